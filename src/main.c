/* main.c - the odscope command table; the only place that chooses exit codes.
 * Exit status: 0 success, 1 runtime error, 2 usage error. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "odscope/ops.h"
#include "odscope/util.h"

const struct ods_cmd ods_commands[] = {
	{"info", cmd_info, "--model DIR", "Architecture, sizes, dtype, tokenizer kind, tied or not.",
	 opts_info},
	{"tokenize", cmd_tokenize, "--model DIR (--text S | --file F) [--special]",
	 "Token ids of a text, space-separated (no special tokens unless --special).", opts_tokenize},
	{"forward", cmd_forward, "--model DIR (--text S | --ids 1,2,3) --out P",
	 "Run the model; write P.hidden.npy (float32 [T,D], final hidden states) and P.logits.npy "
	 "(float32 [T,V]).",
	 opts_forward},
	{"scan", cmd_scan, "--model DIR --corpus F [--db DB] [options]",
	 "Run the model over a corpus; store per-dimension statistics, outlier dimensions and token\n"
	 "frequencies; print the run id and the OD table.",
	 opts_scan},
	{"ods", cmd_ods, "[--run ID] [--db DB] [--rule R] [--format F]", "The OD table of a run.",
	 opts_ods},
	{"runs", cmd_runs, "[--db DB] [--format F]", "The runs in the database.", opts_runs},
	{"export", cmd_export, "--table T [--format csv|tsv|latex|markdown|json|html] [--run ID,...] [--out F]",
	 "Paper-ready tables (runs, ods, tokens, ablation, freq, dims, corr, top1) and the cross-run\n"
	 "comparison table (compare).",
	 opts_export},
	{"report", cmd_report, "--run ID --out DIR [--db DB]",
	 "One self-contained HTML page of a run: metadata, OD and token tables, SVG figures.",
	 opts_report},
	{"tokens", cmd_tokens, "--dim D [--run ID] [--top K] [--format F]",
	 "Tokens a dimension promotes and suppresses through the unembedding, with weights and\n"
	 "frequencies (stored for ODs, computed from the model for any other dimension).",
	 opts_tokens},
	{"ablate", cmd_ablate, "[--run ID] [--random R] [--mean] [--dims 12,345] [--faithful]",
	 "The frequent-token test: zero (or mean-replace) the run's ODs, random control sets,\n"
	 "unembedding ODs, cumulative and single ODs; store surprisal, entropy, KL, accuracy and\n"
	 "the prediction-frequency slope per condition.",
	 opts_ablate},
	{"freq", cmd_freq, "--model DIR (--corpus F | --counts FILE) [--db DB]",
	 "Store token counts of a corpus (tokenizer only, no forward pass) or import a\n"
	 "token_id<TAB>count file; 'scan --freq ID' links a run to them.",
	 opts_freq},
	{0},
};

const struct ods_cmd *ods_cmd_find(const char *name)
{
	for (const struct ods_cmd *c = ods_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: odscope <command> [options]\n\ncommands:\n");
	for (const struct ods_cmd *c = ods_commands; c->name; c++) {
		const char *nl = strchr(c->summary, '\n');
		fprintf(out, "  %-10s %.*s\n", c->name, nl ? (int)(nl - c->summary) : (int)strlen(c->summary),
			c->summary);
	}
	fprintf(out, "\n'odscope help <command>' or 'odscope <command> -h' shows a command's options.\n");
}

int main(int argc, char **argv)
{
	const struct ods_cmd *cmd;
	int rc;

	ods_ops_prefer_avx512(argv);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("odscope %s\n", ODS_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			usage(stdout);
			return 0;
		}
		if (!(cmd = ods_cmd_find(argv[2]))) {
			fprintf(stderr, "odscope: unknown command '%s'\n", argv[2]);
			return 2;
		}
		ods_cmd_usage(cmd, stdout);
		return 0;
	}
	if (!(cmd = ods_cmd_find(argv[1]))) {
		fprintf(stderr, "odscope: unknown command '%s' (see 'odscope --help')\n", argv[1]);
		return 2;
	}
	rc = ods_cmd_parse(cmd, argc - 1, argv + 1);
	if (rc >= 0)
		return rc;
	return cmd->run();
}
