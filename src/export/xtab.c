/* xtab.c - an in-memory query result and its writers: CSV, TSV, LaTeX
 * (booktabs), Markdown, JSON (cJSON) and HTML (see include/odscope/export.h). */
#include "export_int.h"
#include "odscope/export.h"
#include "odscope/store.h"
#include "odscope/util.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ods_xfmt_parse(const char *s, int *fmt)
{
	static const char *names[] = {"csv", "tsv", "latex", "markdown", "json", "html"};
	for (int i = 0; i < 6; i++)
		if (!strcmp(s, names[i])) {
			*fmt = i;
			return 0;
		}
	if (!strcmp(s, "md") || !strcmp(s, "tex")) {
		*fmt = s[0] == 'm' ? ODS_XFMT_MARKDOWN : ODS_XFMT_LATEX;
		return 0;
	}
	return ODS_EINVAL;
}

void ods_xtab_release(struct ods_xtab *t)
{
	for (int c = 0; c < t->n_cols; c++) {
		free(t->names[c]);
		if (t->labels)
			free(t->labels[c]);
	}
	for (size_t i = 0; i < (size_t)t->n_rows * (size_t)t->n_cols; i++)
		free(t->cells[i]);
	free(t->names);
	free(t->labels);
	free(t->kinds);
	free(t->cells);
	free(t->num);
	free(t->title);
	free(t->caption);
	free(t->label);
	free(t->source);
	memset(t, 0, sizeof *t);
}

/* Reals with `digits` significant digits; -0 prints as 0. */
static char *fmt_real(double x, int digits)
{
	char buf[64];
	if (isnan(x))
		return ods_xstrdup("nan");
	snprintf(buf, sizeof buf, "%.*g", digits, x == 0 ? 0.0 : x);
	return ods_xstrdup(buf);
}

int ods_xtab_fill(struct ods_db *db, sqlite3_stmt *st, int digits, struct ods_xtab *t,
		  struct ods_err *err)
{
	int nc = sqlite3_column_count(st), rc;
	int preset = t->kinds != NULL; /* kinds given by the caller (before the query) */

	if (!preset) {
		t->kinds = ods_xcalloc((size_t)nc, sizeof *t->kinds);
		t->labels = ods_xcalloc((size_t)nc, sizeof *t->labels);
	}
	t->n_cols = nc;
	t->names = ods_xcalloc((size_t)nc, sizeof *t->names);
	for (int c = 0; c < nc; c++)
		t->names[c] = ods_xstrdup(sqlite3_column_name(st, c));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (t->n_rows == t->cap_rows) {
			t->cap_rows = t->cap_rows ? 2 * t->cap_rows : 64;
			t->cells = ods_xrealloc(t->cells, (size_t)t->cap_rows * nc * sizeof *t->cells);
			t->num = ods_xrealloc(t->num, (size_t)t->cap_rows * nc * sizeof *t->num);
		}
		for (int c = 0; c < nc; c++) {
			size_t i = (size_t)t->n_rows * nc + c;
			int type = sqlite3_column_type(st, c), k = t->kinds[c];
			t->num[i] = NAN;
			t->cells[i] = NULL;
			if (type == SQLITE_NULL)
				continue;
			if (k == ODS_XK_AUTO)
				k = type == SQLITE_INTEGER ? ODS_XK_INT : type == SQLITE_FLOAT ? ODS_XK_REAL
											: ODS_XK_TEXT;
			if (k == ODS_XK_INT && type == SQLITE_FLOAT)
				k = ODS_XK_REAL;
			if (k == ODS_XK_INT || (k == ODS_XK_REAL && type == SQLITE_INTEGER)) {
				char buf[32];
				long long v = sqlite3_column_int64(st, c);
				snprintf(buf, sizeof buf, "%lld", v);
				t->cells[i] = ods_xstrdup(buf);
				t->num[i] = (double)v;
			} else if (k == ODS_XK_REAL) {
				t->cells[i] = fmt_real(sqlite3_column_double(st, c), digits);
				t->num[i] = strtod(t->cells[i], NULL); /* the value as printed */
			} else {
				t->cells[i] = ods_xstrdup((const char *)sqlite3_column_text(st, c));
			}
		}
		t->n_rows++;
	}
	if (rc != SQLITE_DONE)
		return ods_db_error(db, "query failed", err);
	/* Resolve AUTO kinds from the first non-NULL cell. */
	for (int c = 0; c < nc; c++) {
		if (t->kinds[c] != ODS_XK_AUTO)
			continue;
		t->kinds[c] = ODS_XK_TEXT;
		for (int r = 0; r < t->n_rows; r++) {
			size_t i = (size_t)r * nc + c;
			if (t->cells[i]) {
				t->kinds[c] = isnan(t->num[i]) ? ODS_XK_TEXT
					      : strpbrk(t->cells[i], ".en") ? ODS_XK_REAL : ODS_XK_INT;
				break;
			}
		}
		if (t->kinds[c] == ODS_XK_TEXT) /* a numeric column can hold a stray int-looking cell */
			for (int r = 0; r < t->n_rows; r++)
				t->num[(size_t)r * nc + c] = NAN;
	}
	return 0;
}

void ods_xtab_drop_empty(struct ods_xtab *t)
{
	int nc = t->n_cols, keep = 0;
	int *used = ods_xcalloc((size_t)nc, sizeof *used);
	for (int c = 0; c < nc; c++)
		for (int r = 0; r < t->n_rows && !used[c]; r++)
			used[c] = t->cells[(size_t)r * nc + c] != NULL;
	for (int c = 0; c < nc; c++) {
		if (!used[c]) {
			free(t->names[c]);
			free(t->labels[c]);
			continue;
		}
		t->names[keep] = t->names[c];
		t->labels[keep] = t->labels[c];
		t->kinds[keep] = t->kinds[c];
		for (int r = 0; r < t->n_rows; r++) {
			t->cells[(size_t)r * nc + keep] = t->cells[(size_t)r * nc + c];
			t->num[(size_t)r * nc + keep] = t->num[(size_t)r * nc + c];
		}
		keep++;
	}
	/* compact rows to the new stride */
	for (int r = 0; r < t->n_rows; r++)
		for (int c = 0; c < keep; c++) {
			t->cells[(size_t)r * keep + c] = t->cells[(size_t)r * nc + c];
			t->num[(size_t)r * keep + c] = t->num[(size_t)r * nc + c];
		}
	t->n_cols = keep;
	free(used);
}

static int is_num(const struct ods_xtab *t, int c)
{
	return t->kinds[c] == ODS_XK_INT || t->kinds[c] == ODS_XK_REAL;
}

static const char *cell(const struct ods_xtab *t, int r, int c)
{
	return t->cells[(size_t)r * t->n_cols + c];
}

/* ---- CSV / TSV ---- */

static void write_sep(const struct ods_xtab *t, FILE *out, int tsv)
{
	for (int c = 0; c < t->n_cols; c++) {
		if (c)
			fputc(tsv ? '\t' : ',', out);
		ods_put_field(out, t->names[c], tsv);
	}
	fputc('\n', out);
	for (int r = 0; r < t->n_rows; r++) {
		for (int c = 0; c < t->n_cols; c++) {
			if (c)
				fputc(tsv ? '\t' : ',', out);
			if (cell(t, r, c))
				ods_put_field(out, cell(t, r, c), tsv);
		}
		fputc('\n', out);
	}
}

/* ---- JSON ---- */

static void write_json(const struct ods_xtab *t, FILE *out)
{
	cJSON *arr = cJSON_CreateArray();
	for (int r = 0; r < t->n_rows; r++) {
		cJSON *o = cJSON_CreateObject();
		for (int c = 0; c < t->n_cols; c++) {
			const char *s = cell(t, r, c);
			double v = t->num[(size_t)r * t->n_cols + c];
			if (!s)
				cJSON_AddNullToObject(o, t->names[c]);
			else if (is_num(t, c) && isfinite(v))
				cJSON_AddNumberToObject(o, t->names[c], v);
			else if (is_num(t, c)) /* JSON has no NaN/Inf */
				cJSON_AddNullToObject(o, t->names[c]);
			else
				cJSON_AddStringToObject(o, t->names[c], s);
		}
		cJSON_AddItemToArray(arr, o);
	}
	char *s = cJSON_Print(arr);
	fprintf(out, "%s\n", s);
	free(s);
	cJSON_Delete(arr);
}

/* ---- Markdown ---- */

static int u8width(const char *s)
{
	int w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* Markdown cell text: pipes escaped, newlines as spaces; tokens in backticks
 * would hide leading spaces, so they are shown quoted. */
static char *md_text(const char *s, int token, int header)
{
	size_t n = strlen(s);
	char *o = ods_xmalloc(2 * n + 3), *p = o;
	if (token)
		*p++ = '"';
	for (; *s; s++) {
		if (*s == '|' || *s == '\\' || *s == '*' || *s == '`' || *s == '<' || (*s == '_' && !header))
			*p++ = '\\';
		*p++ = *s == '\n' || *s == '\r' ? ' ' : *s;
	}
	if (token)
		*p++ = '"';
	*p = 0;
	return o;
}

static void write_markdown(const struct ods_xtab *t, FILE *out)
{
	int nc = t->n_cols;
	char **txt = ods_xcalloc((size_t)(t->n_rows + 1) * (nc ? nc : 1), sizeof *txt);
	int *w = ods_xcalloc((size_t)(nc ? nc : 1), sizeof *w);
	for (int c = 0; c < nc; c++) {
		txt[c] = md_text(t->names[c], 0, 1);
		w[c] = u8width(txt[c]) > 3 ? u8width(txt[c]) : 3;
	}
	for (int r = 0; r < t->n_rows; r++)
		for (int c = 0; c < nc; c++) {
			const char *s = cell(t, r, c);
			char **d = &txt[(size_t)(r + 1) * nc + c];
			*d = md_text(s ? s : "", s && t->kinds[c] == ODS_XK_TOKEN, 0);
			if (u8width(*d) > w[c])
				w[c] = u8width(*d);
		}
	for (int r = 0; r <= t->n_rows + 1; r++) {
		fputc('|', out);
		for (int c = 0; c < nc; c++) {
			if (r == 1) { /* the alignment row: numbers right-aligned */
				fputs(is_num(t, c) ? " -" : " :", out);
				for (int k = 2; k < w[c]; k++)
					fputc('-', out);
				fputs(is_num(t, c) ? ": |" : "- |", out);
				continue;
			}
			const char *s = txt[(size_t)(r ? r - 1 : 0) * nc + c];
			int pad = w[c] - u8width(s);
			if (is_num(t, c))
				fprintf(out, " %*s%s |", pad, "", s);
			else
				fprintf(out, " %s%*s |", s, pad, "");
		}
		fputc('\n', out);
	}
	for (size_t i = 0; i < (size_t)(t->n_rows + 1) * nc; i++)
		free(txt[i]);
	free(txt);
	free(w);
}

/* ---- LaTeX ---- */

/* Decode one UTF-8 code point (invalid bytes decode as themselves). */
static unsigned utf8_next(const unsigned char **ps)
{
	const unsigned char *s = *ps;
	unsigned c = s[0];
	int n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
	for (int i = 1; i <= n; i++)
		if ((s[i] & 0xc0) != 0x80)
			n = 0;
	if (n) {
		c &= 0x3f >> n;
		for (int i = 1; i <= n; i++)
			c = (c << 6) | (s[i] & 0x3f);
	}
	*ps = s + n + 1;
	return c;
}

char *ods_latex_escape(const char *s, int token)
{
	struct ods_sbuf b = {0};
	const unsigned char *p = (const unsigned char *)s;
	ods_sb_puts(&b, token ? "\\texttt{" : "");
	while (*p) {
		const unsigned char *start = p;
		unsigned c = utf8_next(&p);
		char tmp[32];
		switch (c) {
		case '\\': ods_sb_puts(&b, "\\textbackslash{}"); break;
		case '_': case '%': case '&': case '#': case '$': case '{': case '}':
			tmp[0] = '\\';
			tmp[1] = (char)c;
			ods_sb_put(&b, tmp, 2);
			break;
		case '~': ods_sb_puts(&b, "\\textasciitilde{}"); break;
		case '^': ods_sb_puts(&b, "\\textasciicircum{}"); break;
		case '<': ods_sb_puts(&b, "\\textless{}"); break;
		case '>': ods_sb_puts(&b, "\\textgreater{}"); break;
		case '|': ods_sb_puts(&b, "\\textbar{}"); break;
		case '"': ods_sb_puts(&b, token ? "\"" : "\\textquotedbl{}"); break;
		case ' ': ods_sb_puts(&b, token ? "\\textvisiblespace{}" : " "); break;
		case '-': ods_sb_puts(&b, token ? "-" : "-{}"); break;
		default:
			if (c < 0x20 || c == 0x7f || c > 0xff) {
				/* control characters and code points pdflatex does not know */
				snprintf(tmp, sizeof tmp, "\\textsf{U+%04X}", c);
				ods_sb_puts(&b, tmp);
			} else {
				ods_sb_put(&b, (const char *)start, (size_t)(p - start));
			}
		}
	}
	if (token)
		ods_sb_puts(&b, "}");
	if (!b.p)
		return ods_xstrdup("");
	return b.p;
}

/* A number cell in LaTeX: a real minus sign, exponents as \times 10^{e}. */
static char *latex_number(const char *s)
{
	char buf[128];
	const char *e = strpbrk(s, "eE");
	int neg = s[0] == '-';
	if (!strcmp(s, "nan") || !strcmp(s, "inf") || !strcmp(s, "-inf"))
		return ods_xstrdup("--");
	if (e) {
		int ex = atoi(e + 1);
		snprintf(buf, sizeof buf, "$%s%.*s\\times10^{%d}$", neg ? "-" : "", (int)(e - s) - neg,
			 s + neg, ex);
	} else {
		snprintf(buf, sizeof buf, "%s%s", neg ? "$-$" : "", s + neg);
	}
	return ods_xstrdup(buf);
}

static const char *col_group(const char *name, size_t *glen)
{
	const char *dot = strchr(name, '.');
	*glen = dot ? (size_t)(dot - name) : 0;
	return dot ? dot + 1 : name;
}

static void write_latex(const struct ods_xtab *t, FILE *out)
{
	int nc = t->n_cols, grouped = 0;
	if (t->source)
		fprintf(out, "%% %s\n", t->source);
	fprintf(out, "%% needs \\usepackage{booktabs}\n");
	fprintf(out, "\\begin{table}[htbp]\n\\centering\n");
	if (t->caption)
		fprintf(out, "\\caption{%s}\n", t->caption);
	if (t->label)
		fprintf(out, "\\label{%s}\n", t->label);
	fprintf(out, "\\begin{tabular}{");
	for (int c = 0; c < nc; c++)
		fputc(is_num(t, c) ? 'r' : 'l', out);
	fprintf(out, "}\n\\toprule\n");
	for (int c = 0; c < nc; c++) {
		size_t g;
		col_group(t->names[c], &g);
		grouped |= g > 0;
	}
	if (grouped) { /* a spanning header per column group, with \cmidrule under it */
		struct ods_sbuf rules = {0};
		for (int c = 0; c < nc;) {
			size_t g;
			col_group(t->names[c], &g);
			int k = 1;
			while (c + k < nc) {
				size_t g2;
				col_group(t->names[c + k], &g2);
				if (g2 != g || strncmp(t->names[c], t->names[c + k], g))
					break;
				k++;
			}
			if (c)
				fputs(" & ", out);
			if (g) {
				char *gname = ods_xmalloc(g + 1);
				memcpy(gname, t->names[c], g);
				gname[g] = 0;
				char *esc = ods_latex_escape(gname, 0);
				fprintf(out, "\\multicolumn{%d}{c}{%s}", k, esc);
				char tmp[64];
				snprintf(tmp, sizeof tmp, "\\cmidrule(lr){%d-%d}", c + 1, c + k);
				ods_sb_puts(&rules, tmp);
				free(esc);
				free(gname);
			} else {
				for (int j = 1; j < k; j++)
					fputs(" & ", out);
			}
			c += k;
		}
		fprintf(out, " \\\\\n%s\n", rules.p ? rules.p : "");
		free(rules.p);
	}
	for (int c = 0; c < nc; c++) {
		size_t g;
		const char *nm = col_group(t->names[c], &g);
		char *esc = t->labels && t->labels[c] ? ods_xstrdup(t->labels[c]) : ods_latex_escape(nm, 0);
		fprintf(out, "%s%s", c ? " & " : "", esc);
		free(esc);
	}
	fprintf(out, " \\\\\n\\midrule\n");
	for (int r = 0; r < t->n_rows; r++) {
		for (int c = 0; c < nc; c++) {
			const char *s = cell(t, r, c);
			char *esc = !s ? ods_xstrdup("--")
				    : is_num(t, c) ? latex_number(s)
						   : ods_latex_escape(s, t->kinds[c] == ODS_XK_TOKEN);
			fprintf(out, "%s%s", c ? " & " : "", esc);
			free(esc);
		}
		fprintf(out, " \\\\\n");
	}
	fprintf(out, "\\bottomrule\n\\end{tabular}\n\\end{table}\n");
}

/* ---- HTML ---- */

char *ods_html_escape(const char *s)
{
	struct ods_sbuf b = {0};
	ods_sb_puts(&b, "");
	for (; *s; s++) {
		switch (*s) {
		case '&': ods_sb_puts(&b, "&amp;"); break;
		case '<': ods_sb_puts(&b, "&lt;"); break;
		case '>': ods_sb_puts(&b, "&gt;"); break;
		case '"': ods_sb_puts(&b, "&quot;"); break;
		case '\'': ods_sb_puts(&b, "&#39;"); break;
		default: ods_sb_put(&b, s, 1);
		}
	}
	return b.p;
}

static void write_html(const struct ods_xtab *t, FILE *out)
{
	fprintf(out, "<table>\n<thead><tr>");
	for (int c = 0; c < t->n_cols; c++) {
		char *e = ods_html_escape(t->names[c]);
		fprintf(out, "<th>%s</th>", e);
		free(e);
	}
	fprintf(out, "</tr></thead>\n<tbody>\n");
	for (int r = 0; r < t->n_rows; r++) {
		fprintf(out, "<tr>");
		for (int c = 0; c < t->n_cols; c++) {
			const char *s = cell(t, r, c);
			char *e = ods_html_escape(s ? s : "");
			if (is_num(t, c))
				fprintf(out, "<td class=\"n\">%s</td>", e);
			else if (t->kinds[c] == ODS_XK_TOKEN)
				fprintf(out, "<td><code>%s</code></td>", e);
			else
				fprintf(out, "<td>%s</td>", e);
			free(e);
		}
		fprintf(out, "</tr>\n");
	}
	fprintf(out, "</tbody>\n</table>\n");
}

int ods_xtab_write(const struct ods_xtab *t, int fmt, FILE *out)
{
	switch (fmt) {
	case ODS_XFMT_CSV: write_sep(t, out, 0); break;
	case ODS_XFMT_TSV: write_sep(t, out, 1); break;
	case ODS_XFMT_JSON: write_json(t, out); break;
	case ODS_XFMT_MARKDOWN: write_markdown(t, out); break;
	case ODS_XFMT_LATEX: write_latex(t, out); break;
	case ODS_XFMT_HTML: write_html(t, out); break;
	default: return ODS_EINVAL;
	}
	return ferror(out) ? ODS_EIO : 0;
}
