/* config.c - config.json into struct ods_config (see include/odscope/model.h).
 * The cJSON tree never leaves this file. */
#include "odscope/model.h"
#include "odscope/util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cfg_reader {
	const cJSON *root;
	const char *path;
	struct ods_err *err;
	int rc;
};

/* Integer key: required (def < 0 means required) or default. */
static int get_int(struct cfg_reader *r, const char *key, int def, int min)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
	if (r->rc)
		return def;
	if (!v || cJSON_IsNull(v)) {
		if (def == INT32_MIN)
			r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: missing key '%s'", r->path, key);
		return def;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
	    v->valuedouble > 1e9) {
		r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: key '%s' must be an integer >= %d", r->path,
				    key, min);
		return def;
	}
	return (int)v->valuedouble;
}

static double get_num(struct cfg_reader *r, const char *key, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
	if (r->rc || !v || cJSON_IsNull(v))
		return def;
	if (!cJSON_IsNumber(v)) {
		r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: key '%s' must be a number", r->path, key);
		return def;
	}
	return v->valuedouble;
}

static int get_bool(struct cfg_reader *r, const char *key, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
	if (r->rc || !v || cJSON_IsNull(v))
		return def;
	if (!cJSON_IsBool(v)) {
		r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: key '%s' must be true or false", r->path, key);
		return def;
	}
	return cJSON_IsTrue(v);
}

static const char *get_str(struct cfg_reader *r, const char *key, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
	if (r->rc || !v || cJSON_IsNull(v))
		return def;
	if (!cJSON_IsString(v)) {
		r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: key '%s' must be a string", r->path, key);
		return def;
	}
	return v->valuestring;
}

static int parse_act(struct cfg_reader *r, const char *key, const char *def)
{
	const char *a = get_str(r, key, def);
	if (r->rc)
		return 0;
	if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh") || !strcmp(a, "gelu_fast"))
		return ODS_ACT_GELU_TANH;
	if (!strcmp(a, "gelu"))
		return ODS_ACT_GELU_ERF;
	if (!strcmp(a, "relu"))
		return ODS_ACT_RELU;
	r->rc = ods_err_set(r->err, ODS_EUNSUPPORTED, "%s: unsupported %s '%s'", r->path, key, a);
	return 0;
}

static void parse_gpt2(struct ods_config *c, struct cfg_reader *r)
{
	c->d_model = get_int(r, "n_embd", INT32_MIN, 1);
	c->n_layer = get_int(r, "n_layer", INT32_MIN, 1);
	c->n_head = get_int(r, "n_head", INT32_MIN, 1);
	c->n_ctx = get_int(r, "n_positions", INT32_MIN, 1);
	c->n_vocab = get_int(r, "vocab_size", INT32_MIN, 1);
	c->d_ff = get_int(r, "n_inner", 0, 1);
	c->norm_eps = get_num(r, "layer_norm_epsilon", 1e-5);
	c->act = parse_act(r, "activation_function", "gelu_new");
	c->scale_attn_weights = get_bool(r, "scale_attn_weights", 1);
	c->scale_attn_by_inverse_layer_idx = get_bool(r, "scale_attn_by_inverse_layer_idx", 0);
	if (r->rc)
		return;
	if (!c->d_ff)
		c->d_ff = 4 * c->d_model;
	if (c->d_model % c->n_head)
		r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: n_embd %d is not a multiple of n_head %d",
				    r->path, c->d_model, c->n_head);
	c->head_dim = c->d_model / c->n_head;
	if (get_bool(r, "add_cross_attention", 0))
		r->rc = ods_err_set(r->err, ODS_EUNSUPPORTED, "%s: unsupported add_cross_attention true",
				    r->path);
}

static const struct {
	const char *model_type;
	void (*parse)(struct ods_config *c, struct cfg_reader *r);
} families[] = {
	{"gpt2", parse_gpt2},
};

int ods_config_load(struct ods_config *cfg, const char *dir, struct ods_err *err)
{
	char path[4096], *text;
	size_t len;
	int rc;
	cJSON *root;
	struct cfg_reader r = {0};
	const char *mt;

	memset(cfg, 0, sizeof *cfg);
	ods_path_join(path, sizeof path, dir, "config.json");
	if ((rc = ods_file_read(path, &text, &len, err)))
		return rc;
	cfg->hash = ods_fnv1a(ODS_FNV_INIT, text, len);
	root = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(root)) {
		const char *at = cJSON_GetErrorPtr();
		long off = at && at >= text && at <= text + len ? (long)(at - text) : -1;
		cJSON_Delete(root);
		free(text);
		return ods_err_set(err, ODS_EFORMAT, "%s: malformed JSON%s%ld", path,
				   off >= 0 ? " near byte " : "", off >= 0 ? off : 0L);
	}
	free(text);
	r.root = root;
	r.path = path;
	r.err = err;
	mt = get_str(&r, "model_type", NULL);
	if (!r.rc && !mt)
		r.rc = ods_err_set(err, ODS_EFORMAT, "%s: missing key 'model_type'", path);
	if (!r.rc) {
		size_t i;
		snprintf(cfg->model_type, sizeof cfg->model_type, "%s", mt);
		for (i = 0; i < sizeof families / sizeof families[0]; i++)
			if (!strcmp(families[i].model_type, mt))
				break;
		if (i == sizeof families / sizeof families[0])
			r.rc = ods_err_set(err, ODS_EUNSUPPORTED, "%s: unsupported model_type '%s'", path, mt);
		else
			families[i].parse(cfg, &r);
	}
	cfg->tie_word_embeddings = get_bool(&r, "tie_word_embeddings", 1);
	cfg->bos_id = get_int(&r, "bos_token_id", -1, 0);
	cfg->eos_id = get_int(&r, "eos_token_id", -1, 0);
	cJSON_Delete(root);
	return r.rc;
}
