/* test_link.c - Spearman with ties, frequency ranks, counts files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "odscope/link.h"
#include "t.h"

/* Values of scipy.stats.spearmanr (average ranks for ties) for these vectors. */
static void test_spearman_ties(void)
{
	double x1[] = {1, 2, 2, 3}, y1[] = {1, 3, 2, 4};
	double x2[] = {1, 1, 1, 2}, y2[] = {3, 2, 1, 0};
	double x3[] = {10, 20, 30, 40, 50}, y3[] = {5, 6, 7, 8, 7};
	double c[] = {1, 1, 1, 1};
	double r;
	r = ods_spearman(x1, y1, 4);
	T_CHECK(fabs(r - 0.9486832980505138) < 1e-12, "%.16f", r);
	r = ods_spearman(x2, y2, 4);
	T_CHECK(fabs(r - (-0.7745966692414834)) < 1e-12, "%.16f", r);
	r = ods_spearman(x3, y3, 5);
	T_CHECK(fabs(r - 0.8207826816681233) < 1e-12, "%.16f", r);
	T_CHECK(isnan(ods_spearman(x1, c, 4)), "constant side gives NaN");
	T_CHECK(isnan(ods_spearman(x1, y1, 1)), "n < 2 gives NaN");
}

static void test_rank_avg(void)
{
	double x[] = {3, 1, 3, 2, 3}, r[5], want[] = {4, 1, 4, 2, 4};
	ods_rank_avg(x, 5, r);
	for (int i = 0; i < 5; i++)
		T_CHECK(r[i] == want[i], "rank %d = %g", i, r[i]);
}

static void test_freq_ranks(void)
{
	int64_t c[] = {5, 9, 5, 0, 1};
	int32_t r[5], want[] = {2, 1, 2, 5, 4};
	ods_freq_ranks(c, 5, r);
	for (int i = 0; i < 5; i++)
		T_CHECK(r[i] == want[i], "freq rank %d = %d", i, r[i]);
}

static void test_counts_file(void)
{
	const char *p = "tests/tmp/counts_unit.tsv";
	int64_t c[4];
	uint64_t h;
	struct ods_err err = {0};
	FILE *f;
	mkdir("tests/tmp", 0755);
	f = fopen(p, "w");
	if (!f) {
		T_SKIP("cannot write %s", p);
		return;
	}
	fputs("# id\tcount\n2\t7\n\n0\t3\r\n", f);
	fclose(f);
	T_CHECK(ods_counts_read(p, 4, c, &h, &err) == 0, "%s", err.msg);
	T_CHECK(c[0] == 3 && c[1] == 0 && c[2] == 7 && c[3] == 0, "counts");
	f = fopen(p, "w");
	fputs("2\t7\n2\t1\n", f);
	fclose(f);
	T_CHECK(ods_counts_read(p, 4, c, &h, &err) < 0 && strstr(err.msg, ":2: token id 2 appears twice"),
		"%s", err.msg);
}

int main(void)
{
	T_RUN(test_spearman_ties);
	T_RUN(test_rank_avg);
	T_RUN(test_freq_ranks);
	T_RUN(test_counts_file);
	return T_END();
}
