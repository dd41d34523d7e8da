build/vmm/main.o: src/vmm/main.c
