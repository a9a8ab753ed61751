/* args.c - option parsing and usage for every command (see cmd.h). */
#include "cmd.h"
#include "odscope/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void ods_cmd_usage(const struct ods_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: odscope %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->summary);
	if (cmd->opts && cmd->opts[0].name) {
		fprintf(out, "\noptions:\n");
		for (const struct ods_opt *o = cmd->opts; o->name; o++) {
			char left[64];
			snprintf(left, sizeof left, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
			fprintf(out, "  %-22s %s\n", left, o->help);
		}
	}
	fprintf(out, "  %-22s %s\n", "-h, --help", "show this usage");
}

int ods_cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "odscope %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'odscope help %s')\n", cmd);
	return 2;
}

int ods_cmd_fail(const struct ods_err *err)
{
	fprintf(stderr, "odscope: %s\n", err->msg);
	return 1;
}

static int set_value(const struct ods_cmd *cmd, const struct ods_opt *o, const char *v)
{
	char *end;
	errno = 0;
	switch (o->kind) {
	case OPT_STR:
		*(const char **)o->dst = v;
		return 0;
	case OPT_INT: {
		long x = strtol(v, &end, 10);
		if (*v && !*end && !errno && x >= -2147483647L && x <= 2147483647L) {
			*(int *)o->dst = (int)x;
			return 0;
		}
		break;
	}
	case OPT_I64: {
		long long x = strtoll(v, &end, 10);
		if (*v && !*end && !errno) {
			*(int64_t *)o->dst = x;
			return 0;
		}
		break;
	}
	case OPT_DBL: {
		double x = strtod(v, &end);
		if (*v && !*end && !errno) {
			*(double *)o->dst = x;
			return 0;
		}
		break;
	}
	case OPT_SIZE:
		if (ods_parse_size(v, (size_t *)o->dst) == 0)
			return 0;
		break;
	}
	return ods_cmd_usage_error(cmd->name, "bad value '%s' for %s", v, o->name);
}

int ods_cmd_parse(const struct ods_cmd *cmd, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		const struct ods_opt *o = NULL;
		size_t n;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			ods_cmd_usage(cmd, stdout);
			return 0;
		}
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		for (const struct ods_opt *p = cmd->opts; p && p->name; p++)
			if (strlen(p->name) == n && !strncmp(p->name, a, n))
				o = p;
		if (!o)
			return ods_cmd_usage_error(cmd->name, "unknown option '%s'", a);
		if (o->kind == OPT_FLAG) {
			if (eq)
				return ods_cmd_usage_error(cmd->name, "%s takes no value", o->name);
			*(int *)o->dst = 1;
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return ods_cmd_usage_error(cmd->name, "%s needs a value", o->name);
		if (set_value(cmd, o, val))
			return 2;
	}
	return -1;
}
