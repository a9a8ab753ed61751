/* cmd_tokenize.c - `odscope tokenize`: token ids of a text. */
#include "cmd.h"
#include "odscope/tok.h"

#include <stdlib.h>
#include <string.h>

static const char *opt_model, *opt_text, *opt_file;
static int opt_special;

const struct ods_opt opts_tokenize[] = {
	{"--model", OPT_STR, &opt_model, "DIR", "model directory (tokenizer.json or vocab.json + merges.txt)"},
	{"--text", OPT_STR, &opt_text, "S", "text to tokenize"},
	{"--file", OPT_STR, &opt_file, "F", "file whose whole content is tokenized"},
	{"--special", OPT_FLAG, &opt_special, NULL, "add the BOS/EOS tokens of the post-processor"},
	{0},
};

int cmd_tokenize(void)
{
	struct ods_err err = {0};
	struct ods_tok *tok;
	struct ods_ids ids = {0};
	char *buf = NULL;
	const char *text;
	size_t len;
	int rc;

	if (!opt_model)
		return ods_cmd_usage_error("tokenize", "--model is required");
	if (!!opt_text == !!opt_file)
		return ods_cmd_usage_error("tokenize", "give exactly one of --text and --file");
	if (opt_file && ods_file_read(opt_file, &buf, &len, &err))
		return ods_cmd_fail(&err);
	text = opt_file ? buf : opt_text;
	if (!opt_file)
		len = strlen(opt_text);
	if ((rc = ods_tok_open(&tok, opt_model, &err)) == 0) {
		rc = ods_tok_encode(tok, text, len, opt_special, &ids, &err);
		if (rc && opt_file)
			ods_err_prefix(&err, "%s", opt_file);
		ods_tok_free(tok);
	}
	free(buf);
	if (rc)
		return ods_cmd_fail(&err);
	for (size_t i = 0; i < ids.n; i++)
		printf("%s%d", i ? " " : "", ids.v[i]);
	printf("\n");
	ods_ids_release(&ids);
	return 0;
}
