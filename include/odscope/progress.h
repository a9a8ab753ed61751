/* progress.h - progress of long work on stderr: a live line (tokens, tokens/s,
 * ETA) when stderr is a terminal, one summary line at the end otherwise. */
#ifndef ODS_PROGRESS_H
#define ODS_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

struct ods_progress {
	const char *what;
	double t0, last;
	int tty;
};

void ods_progress_init(struct ods_progress *p, const char *what);
/* done/total: work units for the ETA (e.g. corpus bytes); total 0 = unknown. */
void ods_progress_update(struct ods_progress *p, int64_t tokens, size_t done, size_t total);
void ods_progress_end(struct ods_progress *p, int64_t tokens);

#endif
