/* simd.c: floating-point and SIMD-heavy guest: vectorised float/double
 * loops, SSE2 intrinsics, an AVX2 path picked at run time and a libm loop.
 * Output is deterministic: sums are printed rounded, so a last-bit libm
 * difference between CPU variants cannot change it. */
#include <emmintrin.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define N 4096

static float xs[N], ys[N], zs[N];
static double da[N], db[N];
static int32_t ia[N], ib[N];

/* Element-wise work the compiler vectorises with SSE2 at -O2. */
static void saxpy(float a)
{
	int i;

	for (i = 0; i < N; i++)
		zs[i] = a * xs[i] + ys[i];
}

/* Integer dot product with SSE2 intrinsics: exact, order-independent. */
static int64_t dot_sse2(void)
{
	__m128i acc = _mm_setzero_si128();
	int64_t out[2];
	int i;

	for (i = 0; i < N; i += 4) {
		__m128i a = _mm_loadu_si128((const __m128i *)&ia[i]);
		__m128i b = _mm_loadu_si128((const __m128i *)&ib[i]);
		/* products fit in 32 bits by construction; widen to 64 */
		__m128i lo = _mm_mul_epu32(a, b);
		__m128i hi = _mm_mul_epu32(_mm_srli_epi64(a, 32),
					   _mm_srli_epi64(b, 32));
		acc = _mm_add_epi64(acc, _mm_add_epi64(lo, hi));
	}
	_mm_storeu_si128((__m128i *)out, acc);
	return out[0] + out[1];
}

__attribute__((target("avx2"))) static int64_t dot_avx2(void)
{
	__m256i acc = _mm256_setzero_si256();
	int64_t out[4];
	int i;

	for (i = 0; i < N; i += 8) {
		__m256i a = _mm256_loadu_si256((const __m256i *)&ia[i]);
		__m256i b = _mm256_loadu_si256((const __m256i *)&ib[i]);
		__m256i lo = _mm256_mul_epu32(a, b);
		__m256i hi = _mm256_mul_epu32(_mm256_srli_epi64(a, 32),
					      _mm256_srli_epi64(b, 32));
		acc = _mm256_add_epi64(acc, _mm256_add_epi64(lo, hi));
	}
	_mm256_storeu_si256((__m256i *)out, acc);
	return out[0] + out[1] + out[2] + out[3];
}

/* Element-wise double work in AVX registers (exact per element). */
__attribute__((target("avx2"))) static void scale_avx2(void)
{
	int i;

	for (i = 0; i < N; i += 4) {
		__m256d a = _mm256_loadu_pd(&da[i]);
		__m256d b = _mm256_loadu_pd(&db[i]);
		_mm256_storeu_pd(&da[i], _mm256_add_pd(_mm256_mul_pd(a, b), b));
	}
}

static void scale_plain(void)
{
	int i;

	for (i = 0; i < N; i++)
		da[i] = da[i] * db[i] + db[i];
}

static long long q(double x)
{
	return llround(x * 1e6);
}

int main(void)
{
	volatile float a = 1.5f;
	double s, libm = 0;
	int64_t d1, d2;
	int i, k;

	for (i = 0; i < N; i++) {
		xs[i] = (float)(i % 97) * 0.25f;
		ys[i] = (float)(i % 13) - 6.0f;
		ia[i] = i % 1000;
		ib[i] = (i * 7) % 1001;
		da[i] = (double)(i % 50) / 8.0;
		db[i] = (double)(i % 7) + 0.5;
	}
	for (k = 0; k < 64; k++)
		saxpy(a);
	s = 0;
	for (i = 0; i < N; i++)
		s += zs[i];
	printf("saxpy %lld\n", q(s));

	d1 = dot_sse2();
	__builtin_cpu_init();
	d2 = __builtin_cpu_supports("avx2") ? dot_avx2() : d1;
	printf("dot %lld %s\n", (long long)d1, d1 == d2 ? "agree" : "DIFFER");

	if (__builtin_cpu_supports("avx2"))
		scale_avx2();
	else
		scale_plain();
	s = 0;
	for (i = 0; i < N; i++)
		s += da[i];
	printf("scale %lld\n", q(s));

	for (i = 1; i <= 200000; i++) {
		double x = i * 1e-4;
		libm += sin(x) * cos(x) + exp(-x) + log(x) + sqrt(x) +
			pow(x, 0.3) + atan2(x, 1.0 + x) + tanh(x - 5.0);
	}
	printf("libm %lld\n", q(libm / 1000.0));
	printf("consts %.6f %.6f %.6f\n", M_PI, exp(1.0), sqrt(2.0));
	return 0;
}
