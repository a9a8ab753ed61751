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
			r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: missing key '%s'", r->path,
			                    key);
		return def;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
	    v->valuedouble > 1e9) {
		r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: key '%s' must be an integer >= %d",
		                    r->path, key, min);
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
		r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: key '%s' must be a number", r->path,
		                    key);
		return def;
	}
	return v->valuedouble;
}

/* A number that may be null (disabled: 0) or absent (the family default). */
static double get_opt_num(struct cfg_reader *r, const char *key, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
	if (v && cJSON_IsNull(v))
		return 0;
	return get_num(r, key, def);
}

static int get_bool(struct cfg_reader *r, const char *key, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
	if (r->rc || !v || cJSON_IsNull(v))
		return def;
	if (!cJSON_IsBool(v)) {
		r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: key '%s' must be true or false",
		                    r->path, key);
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
		r->rc = ods_err_set(r->err, ODS_EFORMAT, "%s: key '%s' must be a string", r->path,
		                    key);
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
	if (!strcmp(a, "silu") || !strcmp(a, "swish"))
		return ODS_ACT_SILU;
	r->rc = ods_err_set(r->err, ODS_EUNSUPPORTED, "%s: unsupported %s '%s'", r->path, key, a);
	return 0;
}

/* "<config.json>: key '<key>' <what>" */
static void fail(struct cfg_reader *r, int code, const char *key, const char *what)
{
	if (!r->rc)
		r->rc = ods_err_set(r->err, code, "%s: key '%s' %s", r->path, key, what);
}

/* Sizes shared by the Llama-like families (HF names). kv_default: the
 * family's num_key_value_heads when the key is absent (0: = heads; an
 * explicit null also means heads, as in HF). */
static void parse_sizes_kv(struct ods_config *c, struct cfg_reader *r, int kv_default)
{
	const cJSON *kv = cJSON_GetObjectItemCaseSensitive(r->root, "num_key_value_heads");
	c->d_model = get_int(r, "hidden_size", INT32_MIN, 1);
	c->n_layer = get_int(r, "num_hidden_layers", INT32_MIN, 1);
	c->n_head = get_int(r, "num_attention_heads", INT32_MIN, 1);
	c->n_kv_head = get_int(r, "num_key_value_heads", kv ? 0 : kv_default, 1);
	c->head_dim = get_int(r, "head_dim", 0, 1);
	c->d_ff = get_int(r, "intermediate_size", INT32_MIN, 1);
	c->n_vocab = get_int(r, "vocab_size", INT32_MIN, 1);
	c->n_ctx = get_int(r, "max_position_embeddings", INT32_MIN, 1);
}

/* RoPE: base, partial rotary and rope_scaling (or transformers 5's
 * rope_parameters). Types other than default, linear and llama3 are refused. */
static void parse_sizes(struct ods_config *c, struct cfg_reader *r)
{
	parse_sizes_kv(c, r, 0);
}

static void parse_rope(struct ods_config *c, struct cfg_reader *r, double partial)
{
	const char *key = "rope_scaling";
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(r->root, key), *t;
	const char *type = "default";
	struct cfg_reader sub = *r;

	c->rope_theta = get_num(r, "rope_theta", c->rope_theta > 0 ? c->rope_theta : 10000.0);
	if (!rs || cJSON_IsNull(rs)) {
		key = "rope_parameters";
		rs = cJSON_GetObjectItemCaseSensitive(r->root, key);
	}
	if (rs && !cJSON_IsNull(rs)) {
		if (!cJSON_IsObject(rs)) {
			fail(r, ODS_EFORMAT, key, "must be an object");
			return;
		}
		t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
		if (!t)
			t = cJSON_GetObjectItemCaseSensitive(rs, "type");
		if (t && !cJSON_IsString(t)) {
			fail(r, ODS_EFORMAT, key, "(rope_type) must be a string");
			return;
		}
		if (t)
			type = t->valuestring;
		sub.root = rs;
		c->rope_theta = get_num(&sub, "rope_theta", c->rope_theta);
		partial = get_num(&sub, "partial_rotary_factor", partial);
		if (!strcmp(type, "default")) {
			c->rope_type = ODS_ROPE_DEFAULT;
		} else if (!strcmp(type, "linear")) {
			c->rope_type = ODS_ROPE_LINEAR;
			c->rope_factor = get_num(&sub, "factor", -1);
		} else if (!strcmp(type, "llama3")) {
			c->rope_type = ODS_ROPE_LLAMA3;
			c->rope_factor = get_num(&sub, "factor", -1);
			c->rope_low_freq = get_num(&sub, "low_freq_factor", -1);
			c->rope_high_freq = get_num(&sub, "high_freq_factor", -1);
			c->rope_orig_ctx =
				get_int(&sub, "original_max_position_embeddings", INT32_MIN, 1);
			if (!sub.rc &&
			    (c->rope_low_freq <= 0 || c->rope_high_freq <= c->rope_low_freq))
				fail(&sub, ODS_EFORMAT, key,
				     "needs 0 < low_freq_factor < high_freq_factor");
		} else {
			r->rc = ods_err_set(
				r->err, ODS_EUNSUPPORTED,
				"%s: unsupported %s type '%s' (supported: default, linear, llama3)",
				r->path, key, type);
			return;
		}
		if (!sub.rc && c->rope_type != ODS_ROPE_DEFAULT && c->rope_factor <= 0)
			fail(&sub, ODS_EFORMAT, key, "needs a factor > 0");
		if (sub.rc) {
			r->rc = sub.rc;
			return;
		}
	}
	if (c->rope_theta <= 0)
		fail(r, ODS_EFORMAT, "rope_theta", "must be > 0");
	if (r->rc || !c->head_dim)
		return;
	if (partial <= 0 || partial > 1)
		fail(r, ODS_EFORMAT, "partial_rotary_factor", "must be in (0, 1]");
	c->rotary_dim = (int)(c->head_dim * partial);
	if (c->rotary_dim % 2)
		fail(r, ODS_EUNSUPPORTED, "partial_rotary_factor",
		     "gives an odd rotary dimension (not supported)");
}

/* Defaults derived once the family set the sizes. */
static void finish_heads(struct ods_config *c, struct cfg_reader *r)
{
	if (r->rc)
		return;
	if (!c->n_kv_head)
		c->n_kv_head = c->n_head;
	if (!c->head_dim) {
		if (c->d_model % c->n_head)
			fail(r, ODS_EFORMAT, "num_attention_heads",
			     "does not divide the hidden size");
		c->head_dim = c->d_model / c->n_head;
	}
	if (c->n_head % c->n_kv_head)
		fail(r, ODS_EFORMAT, "num_key_value_heads", "does not divide num_attention_heads");
}

/* Sliding-window attention: `layer_types` when the config lists them, else
 * the family's rule (sliding for layers l with rule(l)). */
static void parse_window(struct ods_config *c, struct cfg_reader *r, int window, int rule_even,
                         int from_layer)
{
	const cJSON *lt = cJSON_GetObjectItemCaseSensitive(r->root, "layer_types");
	if (r->rc)
		return;
	c->window = window;
	if (lt && !cJSON_IsNull(lt)) {
		if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != c->n_layer) {
			fail(r, ODS_EFORMAT, "layer_types", "must list one type per layer");
			return;
		}
		for (int l = 0; l < c->n_layer; l++) {
			const cJSON *e = cJSON_GetArrayItem(lt, l);
			const char *s = cJSON_IsString(e) ? e->valuestring : "";
			if (!strcmp(s, "sliding_attention"))
				c->sliding[l] = window > 0;
			else if (strcmp(s, "full_attention"))
				fail(r, ODS_EUNSUPPORTED, "layer_types",
				     "has a type other than full_attention / sliding_attention "
				     "(not "
				     "supported)");
		}
		return;
	}
	for (int l = 0; window > 0 && l < c->n_layer; l++)
		c->sliding[l] = rule_even ? l % 2 == 0 : l >= from_layer;
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
	c->scale_attn_by_inverse_layer_idx = get_bool(r, "scale_attn_by_inverse_layer_idx", 0);
	c->tie_word_embeddings = get_bool(r, "tie_word_embeddings", 1);
	if (get_bool(r, "add_cross_attention", 0))
		fail(r, ODS_EUNSUPPORTED, "add_cross_attention", "true is not supported");
	if (get_bool(r, "reorder_and_upcast_attn", 0))
		fail(r, ODS_EUNSUPPORTED, "reorder_and_upcast_attn", "true is not supported");
	if (r->rc)
		return;
	if (!c->d_ff)
		c->d_ff = 4 * c->d_model;
	finish_heads(c, r);
	c->attn_scale = get_bool(r, "scale_attn_weights", 1) ? 1.0 / sqrt(c->head_dim) : 1.0;
	c->norm_bias = c->norm_in = c->final_norm = 1;
	c->qkv = ODS_QKV_FUSED;
	c->conv1d = c->qkv_bias = c->o_bias = c->mlp_bias = 1;
	c->learned_pos = 1;
}

static void parse_gpt_neox(struct ods_config *c, struct cfg_reader *r)
{
	parse_sizes(c, r);
	c->norm_eps = get_num(r, "layer_norm_eps", 1e-5);
	c->act = parse_act(r, "hidden_act", "gelu");
	c->parallel = get_bool(r, "use_parallel_residual", 1) ? 2 : 0;
	c->qkv_bias = c->o_bias = get_bool(r, "attention_bias", 1);
	c->tie_word_embeddings = get_bool(r, "tie_word_embeddings", 0);
	c->rope_theta = get_num(r, "rotary_emb_base", 10000.0);
	finish_heads(c, r);
	if (c->n_kv_head != c->n_head)
		fail(r, ODS_EUNSUPPORTED, "num_key_value_heads",
		     "must equal num_attention_heads for gpt_neox");
	parse_rope(c, r, get_num(r, "rotary_pct", get_num(r, "partial_rotary_factor", 0.25)));
	c->attn_scale = 1.0 / sqrt(c->head_dim);
	c->norm_bias = c->norm_in = c->final_norm = 1;
	c->qkv = ODS_QKV_FUSED_HEADS;
	c->mlp_bias = 1;
}

static void parse_opt(struct ods_config *c, struct cfg_reader *r)
{
	int pre;
	c->d_model = get_int(r, "hidden_size", INT32_MIN, 1);
	c->n_layer = get_int(r, "num_hidden_layers", INT32_MIN, 1);
	c->n_head = get_int(r, "num_attention_heads", INT32_MIN, 1);
	c->d_ff = get_int(r, "ffn_dim", INT32_MIN, 1);
	c->n_vocab = get_int(r, "vocab_size", INT32_MIN, 1);
	c->n_ctx = get_int(r, "max_position_embeddings", INT32_MIN, 1);
	c->d_embed = get_int(r, "word_embed_proj_dim", 0, 1);
	c->act = parse_act(r, "activation_function", "relu");
	c->qkv_bias = c->o_bias = c->mlp_bias = get_bool(r, "enable_bias", 1);
	c->tie_word_embeddings = get_bool(r, "tie_word_embeddings", 1);
	pre = get_bool(r, "do_layer_norm_before", 1);
	if (!get_bool(r, "layer_norm_elementwise_affine", 1))
		fail(r, ODS_EUNSUPPORTED, "layer_norm_elementwise_affine",
		     "false is not supported");
	if (get_bool(r, "_remove_final_layer_norm", 0))
		fail(r, ODS_EUNSUPPORTED, "_remove_final_layer_norm", "true is not supported");
	if (r->rc)
		return;
	c->norm_eps = 1e-5; /* nn.LayerNorm default; OPT has no eps key */
	if (!c->d_embed)
		c->d_embed = c->d_model;
	c->proj_io = c->d_embed != c->d_model;
	c->d_out = c->d_embed;
	finish_heads(c, r);
	c->attn_scale = 1.0 / sqrt(c->head_dim);
	c->norm_bias = 1;
	c->norm_in = c->final_norm = pre;
	c->norm_res = !pre;
	c->learned_pos = 1;
	c->pos_offset = 2;
}

/* Llama, Mistral, Qwen2, OLMo-2 and StableLM share the HF Llama layout. */
static void parse_llama_like(struct ods_config *c, struct cfg_reader *r, int kv_default)
{
	parse_sizes_kv(c, r, kv_default);
	c->norm = ODS_NORM_RMS;
	c->norm_eps = get_num(r, "rms_norm_eps", 1e-6);
	c->act = parse_act(r, "hidden_act", "silu");
	c->gated = 1;
	c->tie_word_embeddings = get_bool(r, "tie_word_embeddings", 0);
	c->norm_in = c->final_norm = 1;
	finish_heads(c, r);
	c->attn_scale = 1.0 / sqrt(c->head_dim);
}

static void parse_llama(struct ods_config *c, struct cfg_reader *r)
{
	parse_llama_like(c, r, 0);
	c->qkv_bias = c->o_bias = get_bool(r, "attention_bias", 0);
	c->mlp_bias = get_bool(r, "mlp_bias", 0);
	parse_rope(c, r, 1.0);
}

static void parse_mistral(struct ods_config *c, struct cfg_reader *r)
{
	parse_llama_like(c, r, 8); /* MistralConfig default */
	parse_rope(c, r, 1.0);
	parse_window(c, r, (int)get_opt_num(r, "sliding_window", 4096), 0, 0);
}

static void parse_qwen2(struct ods_config *c, struct cfg_reader *r)
{
	parse_llama_like(c, r, 32); /* Qwen2Config default */
	c->qkv_bias = 1;
	parse_rope(c, r, 1.0);
	if (get_bool(r, "use_sliding_window", 0))
		parse_window(c, r, (int)get_opt_num(r, "sliding_window", 4096), 0,
		             get_int(r, "max_window_layers", 28, 0));
}

/* Gemma (v1) and Gemma-2: sqrt(D) embedding scale, (1 + w) RMSNorm, GeGLU. */
static void parse_gemma_common(struct ods_config *c, struct cfg_reader *r, int kv_default)
{
	parse_sizes_kv(c, r, kv_default);
	if (!c->head_dim)
		c->head_dim = 256; /* GemmaConfig / Gemma2Config default */
	c->norm = ODS_NORM_RMS;
	c->norm_plus1 = 1;
	c->norm_eps = get_num(r, "rms_norm_eps", 1e-6);
	c->act = parse_act(r, "hidden_activation", get_str(r, "hidden_act", "gelu_pytorch_tanh"));
	c->gated = 1;
	c->qkv_bias = c->o_bias = get_bool(r, "attention_bias", 0);
	c->tie_word_embeddings = get_bool(r, "tie_word_embeddings", 1);
	c->norm_in = c->final_norm = 1;
	c->embed_scale = 1;
	finish_heads(c, r);
	parse_rope(c, r, 1.0);
}

static void parse_gemma(struct ods_config *c, struct cfg_reader *r)
{
	parse_gemma_common(c, r, 16); /* GemmaConfig default */
	c->attn_scale = 1.0 / sqrt(c->head_dim);
}

static void parse_gemma2(struct ods_config *c, struct cfg_reader *r)
{
	parse_gemma_common(c, r, 4); /* Gemma2Config default */
	c->norm_out = 1;
	c->attn_scale = get_num(r, "query_pre_attn_scalar", 256);
	c->attn_scale = c->attn_scale > 0 ? 1.0 / sqrt(c->attn_scale) : 0;
	c->attn_softcap = get_opt_num(r, "attn_logit_softcapping", 50.0);
	c->final_softcap = get_opt_num(r, "final_logit_softcapping", 30.0);
	parse_window(c, r, (int)get_opt_num(r, "sliding_window", 4096), 1, 0);
}

static void parse_olmo2(struct ods_config *c, struct cfg_reader *r)
{
	parse_llama_like(c, r, 0);
	c->norm_eps = get_num(r, "rms_norm_eps", 1e-5);
	c->qkv_bias = c->o_bias = get_bool(r, "attention_bias", 0);
	c->norm_in = 0;
	c->norm_out = 1;
	c->qk_norm = ODS_QKNORM_FULL;
	parse_rope(c, r, 1.0);
}

static void parse_stablelm(struct ods_config *c, struct cfg_reader *r)
{
	parse_llama_like(c, r, 32); /* StableLmConfig default */
	c->norm = ODS_NORM_LAYER;
	c->norm_bias = 1;
	c->norm_eps = get_num(r, "layer_norm_eps", 1e-5);
	c->qkv_bias = get_bool(r, "use_qkv_bias", 0);
	c->qk_norm = get_bool(r, "qk_layernorm", 0) ? ODS_QKNORM_HEAD_LN : ODS_QKNORM_NONE;
	c->parallel = get_bool(r, "use_parallel_residual", 0);
	parse_rope(c, r, get_num(r, "partial_rotary_factor", 0.25));
}

static const struct {
	const char *model_type;
	void (*parse)(struct ods_config *c, struct cfg_reader *r);
} families[] = {
	{"gpt2", parse_gpt2},         {"gpt_neox", parse_gpt_neox}, {"opt", parse_opt},
	{"llama", parse_llama},       {"mistral", parse_mistral},   {"qwen2", parse_qwen2},
	{"gemma", parse_gemma},       {"gemma2", parse_gemma2},     {"olmo2", parse_olmo2},
	{"stablelm", parse_stablelm},
};

/* Keys that change the computation in ways odscope does not implement. */
static void refuse_keys(struct cfg_reader *r)
{
	if (cJSON_GetObjectItemCaseSensitive(r->root, "auto_map"))
		fail(r, ODS_EUNSUPPORTED, "auto_map",
		     "names custom model code (trust_remote_code): not supported");
	if (cJSON_GetObjectItemCaseSensitive(r->root, "quantization_config"))
		fail(r, ODS_EUNSUPPORTED, "quantization_config",
		     "marks a quantized model: not supported");
}

/* Sizes every family must end with. */
static void check_sizes(struct ods_config *c, struct cfg_reader *r)
{
	if (r->rc)
		return;
	if (!c->d_embed)
		c->d_embed = c->d_model;
	if (!c->d_out)
		c->d_out = c->d_model;
	if (c->n_layer > ODS_MAX_LAYERS)
		fail(r, ODS_EUNSUPPORTED, "num_hidden_layers",
		     "asks for more layers than odscope supports (512)");
	if (c->window < 0)
		fail(r, ODS_EFORMAT, "sliding_window", "must be >= 0");
	if (c->attn_softcap < 0)
		fail(r, ODS_EFORMAT, "attn_logit_softcapping", "must be >= 0");
	if (c->final_softcap < 0)
		fail(r, ODS_EFORMAT, "final_logit_softcapping", "must be >= 0");
	if (!(c->attn_scale > 0))
		fail(r, ODS_EFORMAT, "query_pre_attn_scalar", "must be > 0");
	if ((long)c->n_head * c->head_dim > 1L << 20 || (long)c->d_model > 1L << 20)
		fail(r, ODS_EFORMAT, "hidden_size", "gives implausible sizes");
}

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
	if (!r.rc)
		refuse_keys(&r);
	if (!r.rc) {
		size_t i;
		snprintf(cfg->model_type, sizeof cfg->model_type, "%s", mt);
		for (i = 0; i < sizeof families / sizeof families[0]; i++)
			if (!strcmp(families[i].model_type, mt))
				break;
		if (i == sizeof families / sizeof families[0])
			r.rc = ods_err_set(err, ODS_EUNSUPPORTED, "%s: unsupported model_type '%s'",
			                   path, mt);
		else
			families[i].parse(cfg, &r);
	}
	check_sizes(cfg, &r);
	cfg->bos_id = get_int(&r, "bos_token_id", -1, 0);
	cfg->eos_id = get_int(&r, "eos_token_id", -1, 0);
	cJSON_Delete(root);
	return r.rc;
}
