/* progress.c - see include/odscope/progress.h. */
#include "odscope/progress.h"
#include "odscope/util.h"

#include <stdio.h>
#include <unistd.h>

void ods_progress_init(struct ods_progress *p, const char *what)
{
	p->what = what;
	p->t0 = p->last = ods_now();
	p->tty = isatty(2);
}

void ods_progress_update(struct ods_progress *p, int64_t tokens, size_t done, size_t total)
{
	double now = ods_now(), el = now - p->t0;
	if (!p->tty || now - p->last < 0.25)
		return;
	p->last = now;
	fprintf(stderr, "\r%s: %lld tokens, %.0f tokens/s", p->what, (long long)tokens,
		el > 0 ? (double)tokens / el : 0.0);
	if (total && done > 0 && done <= total) {
		double eta = el * (double)(total - done) / (double)done;
		fprintf(stderr, ", %.0f%%, ETA %dm%02ds", 100.0 * (double)done / (double)total,
			(int)(eta / 60), (int)eta % 60);
	}
	fprintf(stderr, "\033[K");
	fflush(stderr);
}

void ods_progress_end(struct ods_progress *p, int64_t tokens)
{
	double el = ods_now() - p->t0;
	fprintf(stderr, "%s%s: %lld tokens in %.1fs (%.0f tokens/s)\n", p->tty ? "\r\033[K" : "", p->what,
		(long long)tokens, el, el > 0 ? (double)tokens / el : 0.0);
}
