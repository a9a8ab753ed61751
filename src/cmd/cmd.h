/* cmd.h - private to the CLI layer: the command table entry, option tables
 * and the helpers every cmd_<name>.c shares. Each command owns its options
 * (static storage in its file) and its usage text; `odscope help CMD` and
 * `odscope CMD -h` both print ods_cmd_usage. */
#ifndef ODS_CMD_H
#define ODS_CMD_H

#include <stdint.h>
#include <stdio.h>

#include "odscope/err.h"

enum ods_opt_kind { OPT_FLAG, OPT_STR, OPT_INT, OPT_I64, OPT_DBL, OPT_SIZE };

struct ods_opt {
	const char *name;  /* "--model" */
	int kind;          /* enum ods_opt_kind */
	void *dst;         /* int*, const char**, int64_t*, double*, size_t* */
	const char *arg;   /* metavariable for the usage, e.g. "DIR" */
	const char *help;
};

struct ods_cmd {
	const char *name;
	int (*run)(void);         /* after option parsing; returns the exit code */
	const char *synopsis;     /* "--model DIR (--text S | --ids 1,2,3) --out P" */
	const char *summary;      /* one line */
	const struct ods_opt *opts; /* terminated by {0} */
};

extern const struct ods_cmd ods_commands[];
const struct ods_cmd *ods_cmd_find(const char *name);

/* Parse argv (argv[0] is the command name). Returns -1 to go on, 0 after
 * printing the usage for -h/--help, 2 on a usage error (message printed). */
int ods_cmd_parse(const struct ods_cmd *cmd, int argc, char **argv);
void ods_cmd_usage(const struct ods_cmd *cmd, FILE *out);

/* Print "odscope: <message>" on stderr; returns 1 (the runtime-error exit status). */
int ods_cmd_fail(const struct ods_err *err);
/* Print "odscope CMD: <message>" and a usage hint on stderr; returns 2. */
int ods_cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The commands. */
int cmd_info(void);
int cmd_tokenize(void);
int cmd_forward(void);
int cmd_scan(void);
int cmd_ods(void);
int cmd_runs(void);
int cmd_export(void);
int cmd_report(void);
int cmd_tokens(void);
int cmd_freq(void);
int cmd_ablate(void);

extern const struct ods_opt opts_info[], opts_tokenize[], opts_forward[], opts_scan[], opts_ods[],
	opts_runs[], opts_tokens[], opts_freq[], opts_ablate[];
extern const struct ods_opt opts_export[], opts_report[];

/* Print the OD table of a run (shared by scan and ods). */
struct ods_db;
int ods_print_ods(struct ods_db *db, int64_t run_id, const char *rule, int fmt, int digits,
		  struct ods_err *err);

#endif
