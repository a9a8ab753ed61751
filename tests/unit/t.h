/* t.h - the tiny unit-test harness. Each test binary prints one line per test:
 * "PASS name", "FAIL name" (after its failed checks) or "SKIP name: why";
 * tests/run.py collects them. */
#ifndef ODS_T_H
#define ODS_T_H

#include <stdio.h>

static int t_failed_;
static int t_skipped_;

#define T_CHECK(cond, ...) do { \
	if (!(cond)) { \
		printf("  check failed %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__); \
		printf("\n"); \
		t_failed_++; \
	} } while (0)

/* Mark the running test skipped (return from it right after). */
#define T_SKIP(...) do { printf("  skip: "); printf(__VA_ARGS__); printf("\n"); t_skipped_ = 1; } while (0)

#define T_RUN(fn) do { \
	int t_before_ = t_failed_; \
	t_skipped_ = 0; \
	fn(); \
	printf("%s %s\n", t_failed_ != t_before_ ? "FAIL" : t_skipped_ ? "SKIP" : "PASS", #fn); \
	fflush(stdout); \
	} while (0)

#define T_END() (t_failed_ ? 1 : 0)

/* ../shared/fixtures seen from the project root (tests run from the root). */
#define T_FIXTURES "../shared/fixtures"

#endif
