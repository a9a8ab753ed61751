/* report.c - the HTML report of a run (stub). */
#include "odscope/export.h"
int ods_report_write(struct ods_db *db, int64_t run_id, const char *dir, int digits, int *n_figs,
		     struct ods_err *err)
{
	(void)db; (void)run_id; (void)dir; (void)digits; (void)n_figs;
	return ods_err_set(err, ODS_EUNSUPPORTED, "not yet");
}
