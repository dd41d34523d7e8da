/* noop.c: guest that exits 0 at once (cold-start benchmark). */
int main(void)
{
	return 0;
}
