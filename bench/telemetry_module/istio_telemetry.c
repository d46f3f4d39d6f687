/*
 * A prototype (bench only, not shipped): Istio's per-request HTTP metrics from one Envoy HTTP
 * filter built as an Envoy dynamic module (Envoy 1.40's dynamic-modules C ABI), instead of two
 * `envoy.access_loggers.stats` loggers each formatting the same tag for every metric.
 *
 * At stream end the filter formats the packed label tag ONCE (the same `pilotfish_fixed` value
 * the stats loggers format, so 15090's Lua would unpack it unchanged) and records the three
 * histograms (`request_duration_milliseconds_with_total`, `request_bytes`, `response_bytes`)
 * with that one label value.
 *
 * Configuration (the filter's `filter_config`, a google.protobuf.StringValue): the tag template,
 * with the stats loggers' operators:
 *   %DYNAMIC_METADATA(ns:key)%  %CLUSTER_METADATA(ns:key)%  %RESPONSE_CODE%
 *   %GRPC_STATUS_NUMBER%  %RESPONSE_FLAGS%  %UPSTREAM_LOCAL_URI_SAN%  %UPSTREAM_PEER_URI_SAN%
 *   %DOWNSTREAM_LOCAL_URI_SAN%  %DOWNSTREAM_PEER_URI_SAN%
 * and one of its own, %PROTOCOL% ("grpc" when the request's content-type starts with
 * application/grpc, else "http"), which replaces the two loggers selected by header filters.
 * An empty template defines the histograms without a label (a probe of the ABI's cheapest path).
 * A value Envoy does not have prints as empty, as the stats logger's tag formatting does; the gRPC
 * status is printed for gRPC requests only (the stats loggers print none for plain HTTP).
 *
 * The declarations below are this file's own, written from the ABI's documented calling
 * conventions (a buffer is {pointer, length} passed by value; enum values are ints).
 *
 * Build: cc -O2 -shared -fPIC -o libistio_telemetry.so istio_telemetry.c
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  const char* ptr;
  size_t length;
} buf_t;

/* Envoy's callbacks (exported by the envoy binary). */
extern int envoy_dynamic_module_callback_http_filter_config_define_histogram(
    void* config_envoy, buf_t name, buf_t* label_names, size_t label_count, size_t* id_out);
extern int envoy_dynamic_module_callback_http_filter_record_histogram_value(
    void* filter_envoy, size_t id, buf_t* label_values, size_t label_count, uint64_t value);
extern bool envoy_dynamic_module_callback_http_filter_get_attribute_int(void* filter_envoy,
                                                                        int attribute,
                                                                        uint64_t* out);
extern bool envoy_dynamic_module_callback_http_filter_get_attribute_string(void* filter_envoy,
                                                                           int attribute,
                                                                           buf_t* out);
extern bool envoy_dynamic_module_callback_http_get_metadata_string(void* filter_envoy, int source,
                                                                   buf_t ns, buf_t key,
                                                                   buf_t* out);
extern bool envoy_dynamic_module_callback_http_get_header(void* filter_envoy, int header_type,
                                                          buf_t key, buf_t* out, size_t index,
                                                          size_t* count_out);

/* Attribute ids (positions in the ABI's attribute enum). */
enum {
  ATTR_REQUEST_TOTAL_SIZE = 14,
  ATTR_RESPONSE_CODE = 15,
  ATTR_RESPONSE_FLAGS = 17,
  ATTR_RESPONSE_GRPC_STATUS = 18,
  ATTR_RESPONSE_TOTAL_SIZE = 22,
  ATTR_CONNECTION_URI_SAN_LOCAL = 36,
  ATTR_CONNECTION_URI_SAN_PEER = 37,
  ATTR_UPSTREAM_URI_SAN_LOCAL = 48,
  ATTR_UPSTREAM_URI_SAN_PEER = 49,
};
enum { META_DYNAMIC = 0, META_CLUSTER = 2 };
enum { HEADER_REQUEST = 0 };

enum op {
  OP_LITERAL,
  OP_DYNAMIC_METADATA,
  OP_CLUSTER_METADATA,
  OP_RESPONSE_CODE,
  OP_GRPC_STATUS,
  OP_RESPONSE_FLAGS,
  OP_STRING_ATTRIBUTE,
  OP_PROTOCOL,
};

typedef struct {
  enum op op;
  buf_t text; /* the literal, or the metadata namespace */
  buf_t key;  /* the metadata key */
  int attribute;
} part_t;

#define MAX_PARTS 64
#define MAX_TAG 4096
#define METRICS 3

typedef struct {
  char* template_text;
  part_t parts[MAX_PARTS];
  size_t part_count;
  bool needs_protocol;
  bool labelled; /* false with an empty template: the histograms have no label (a probe) */
  size_t histograms[METRICS];
} config_t;

typedef struct {
  const config_t* config;
  uint64_t start_ns;
  bool grpc;
} filter_t;

static const char* const METRIC_NAMES[METRICS] = {
    "request_duration_milliseconds_with_total", "request_bytes", "response_bytes"};
static const char TAG_NAME[] = "pilotfish_fixed";

/* Envoy's response flag short names, by bit. */
static const char* const FLAG_NAMES[] = {
    "LH", "UH",  "UT",   "LR",   "UR",  "UF",  "UC", "UO", "NR", "DI",
    "FI", "RL",  "UAEX", "RLSE", "DC",  "URX", "SI", "IH", "DPE", "UMSDR",
    "RFCF", "NFCF", "DT", "UPE", "NC", "OM",  "DF", "DO", "DR", "UDO"};

static buf_t str(const char* s) { return (buf_t){s, strlen(s)}; }

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static const struct {
  const char* name;
  enum op op;
  int attribute;
} OPERATORS[] = {
    {"RESPONSE_CODE", OP_RESPONSE_CODE, 0},
    {"GRPC_STATUS_NUMBER", OP_GRPC_STATUS, 0},
    {"RESPONSE_FLAGS", OP_RESPONSE_FLAGS, 0},
    {"UPSTREAM_LOCAL_URI_SAN", OP_STRING_ATTRIBUTE, ATTR_UPSTREAM_URI_SAN_LOCAL},
    {"UPSTREAM_PEER_URI_SAN", OP_STRING_ATTRIBUTE, ATTR_UPSTREAM_URI_SAN_PEER},
    {"DOWNSTREAM_LOCAL_URI_SAN", OP_STRING_ATTRIBUTE, ATTR_CONNECTION_URI_SAN_LOCAL},
    {"DOWNSTREAM_PEER_URI_SAN", OP_STRING_ATTRIBUTE, ATTR_CONNECTION_URI_SAN_PEER},
    {"PROTOCOL", OP_PROTOCOL, 0},
};

/* One `%...%` operator (without the percent signs) into `part`; false if unknown. */
static bool parse_operator(const char* s, size_t n, part_t* part) {
  for (size_t i = 0; i < sizeof(OPERATORS) / sizeof(OPERATORS[0]); i++) {
    if (strlen(OPERATORS[i].name) == n && memcmp(OPERATORS[i].name, s, n) == 0) {
      part->op = OPERATORS[i].op;
      part->attribute = OPERATORS[i].attribute;
      return true;
    }
  }
  static const char dyn[] = "DYNAMIC_METADATA(", cluster[] = "CLUSTER_METADATA(";
  const char* args = NULL;
  if (n > sizeof(dyn) && memcmp(s, dyn, sizeof(dyn) - 1) == 0) {
    part->op = OP_DYNAMIC_METADATA;
    args = s + sizeof(dyn) - 1;
  } else if (n > sizeof(cluster) && memcmp(s, cluster, sizeof(cluster) - 1) == 0) {
    part->op = OP_CLUSTER_METADATA;
    args = s + sizeof(cluster) - 1;
  } else {
    return false;
  }
  const char* end = s + n - 1; /* the closing parenthesis */
  const char* colon = memchr(args, ':', (size_t)(end - args));
  if (*end != ')' || colon == NULL) {
    return false;
  }
  part->text = (buf_t){args, (size_t)(colon - args)};
  part->key = (buf_t){colon + 1, (size_t)(end - colon - 1)};
  return true;
}

static bool parse_template(config_t* config) {
  const char* s = config->template_text;
  size_t count = 0;
  while (*s != '\0') {
    if (count == MAX_PARTS) {
      return false;
    }
    part_t* part = &config->parts[count++];
    memset(part, 0, sizeof(*part));
    const char* close = *s == '%' ? strchr(s + 1, '%') : NULL;
    if (close != NULL && parse_operator(s + 1, (size_t)(close - s - 1), part)) {
      config->needs_protocol |= part->op == OP_PROTOCOL || part->op == OP_GRPC_STATUS;
      s = close + 1;
      continue;
    }
    const char* next = strchr(s + 1, '%');
    size_t n = next == NULL ? strlen(s) : (size_t)(next - s);
    part->op = OP_LITERAL;
    part->text = (buf_t){s, n};
    s += n;
  }
  config->part_count = count;
  return true;
}

typedef struct {
  char data[MAX_TAG];
  size_t length;
} out_t;

static void append(out_t* out, const char* s, size_t n) {
  if (n > MAX_TAG - out->length) {
    n = MAX_TAG - out->length;
  }
  memcpy(out->data + out->length, s, n);
  out->length += n;
}

static void append_uint(out_t* out, uint64_t v) {
  char digits[24];
  size_t i = sizeof(digits);
  do {
    digits[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  append(out, digits + i, sizeof(digits) - i);
}

static void append_flags(out_t* out, uint64_t flags) {
  if (flags == 0) {
    append(out, "-", 1);
    return;
  }
  bool first = true;
  for (size_t bit = 0; bit < sizeof(FLAG_NAMES) / sizeof(FLAG_NAMES[0]); bit++) {
    if (flags & ((uint64_t)1 << bit)) {
      if (!first) {
        append(out, ",", 1);
      }
      append(out, FLAG_NAMES[bit], strlen(FLAG_NAMES[bit]));
      first = false;
    }
  }
}

/* The packed tag value of this request, formatted once. */
static void format_tag(const filter_t* filter, void* envoy, out_t* out) {
  const config_t* config = filter->config;
  out->length = 0;
  for (size_t i = 0; i < config->part_count; i++) {
    const part_t* part = &config->parts[i];
    buf_t value = {"", 0};
    uint64_t number = 0;
    switch (part->op) {
      case OP_LITERAL:
        append(out, part->text.ptr, part->text.length);
        continue;
      case OP_PROTOCOL:
        append(out, filter->grpc ? "grpc" : "http", 4);
        continue;
      case OP_DYNAMIC_METADATA:
      case OP_CLUSTER_METADATA: {
        int source = part->op == OP_DYNAMIC_METADATA ? META_DYNAMIC : META_CLUSTER;
        if (!envoy_dynamic_module_callback_http_get_metadata_string(envoy, source, part->text,
                                                                    part->key, &value)) {
          value = (buf_t){"", 0};
        }
        break;
      }
      case OP_STRING_ATTRIBUTE:
        if (!envoy_dynamic_module_callback_http_filter_get_attribute_string(
                envoy, part->attribute, &value)) {
          value = (buf_t){"", 0};
        }
        break;
      case OP_RESPONSE_CODE:
        if (!envoy_dynamic_module_callback_http_filter_get_attribute_int(
                envoy, ATTR_RESPONSE_CODE, &number)) {
          number = 0;
        }
        append_uint(out, number);
        continue;
      case OP_GRPC_STATUS:
        if (filter->grpc && envoy_dynamic_module_callback_http_filter_get_attribute_int(
                                envoy, ATTR_RESPONSE_GRPC_STATUS, &number)) {
          append_uint(out, number);
        }
        continue;
      case OP_RESPONSE_FLAGS:
        if (!envoy_dynamic_module_callback_http_filter_get_attribute_int(
                envoy, ATTR_RESPONSE_FLAGS, &number)) {
          number = 0;
        }
        append_flags(out, number);
        continue;
    }
    append(out, value.ptr, value.length);
  }
}

/* ------------------------------- event hooks ------------------------------- */

const char* envoy_dynamic_module_on_program_init(void) { return "v0.1.0"; }

const void* envoy_dynamic_module_on_http_filter_config_new(void* config_envoy, buf_t name,
                                                           buf_t text) {
  (void)name;
  config_t* config = calloc(1, sizeof(config_t));
  if (config == NULL) {
    return NULL;
  }
  config->template_text = calloc(1, text.length + 1);
  if (config->template_text == NULL) {
    free(config);
    return NULL;
  }
  memcpy(config->template_text, text.ptr, text.length);
  buf_t label = str(TAG_NAME);
  bool ok = parse_template(config);
  config->labelled = text.length > 0;
  for (size_t i = 0; ok && i < METRICS; i++) {
    ok = envoy_dynamic_module_callback_http_filter_config_define_histogram(
             config_envoy, str(METRIC_NAMES[i]), &label, config->labelled ? 1 : 0,
             &config->histograms[i]) == 0;
  }
  if (!ok) {
    free(config->template_text);
    free(config);
    return NULL;
  }
  return config;
}

void envoy_dynamic_module_on_http_filter_config_destroy(const void* config_module) {
  config_t* config = (config_t*)config_module;
  free(config->template_text);
  free(config);
}

const void* envoy_dynamic_module_on_http_filter_new(const void* config_module,
                                                    void* filter_envoy) {
  (void)filter_envoy;
  filter_t* filter = malloc(sizeof(filter_t));
  if (filter != NULL) {
    filter->config = config_module;
    filter->start_ns = now_ns();
    filter->grpc = false;
  }
  return filter;
}

int envoy_dynamic_module_on_http_filter_request_headers(void* envoy, const void* module,
                                                        bool end_of_stream) {
  (void)end_of_stream;
  filter_t* filter = (filter_t*)module;
  if (filter->config->needs_protocol) {
    static const char grpc[] = "application/grpc";
    buf_t value = {NULL, 0};
    filter->grpc = envoy_dynamic_module_callback_http_get_header(
                       envoy, HEADER_REQUEST, str("content-type"), &value, 0, NULL) &&
                   value.length >= sizeof(grpc) - 1 &&
                   memcmp(value.ptr, grpc, sizeof(grpc) - 1) == 0;
  }
  return 0; /* Continue */
}

void envoy_dynamic_module_on_http_filter_stream_complete(void* envoy, const void* module) {
  const filter_t* filter = module;
  out_t tag;
  format_tag(filter, envoy, &tag);
  buf_t label = {tag.data, tag.length};
  uint64_t request_bytes = 0, response_bytes = 0;
  envoy_dynamic_module_callback_http_filter_get_attribute_int(envoy, ATTR_REQUEST_TOTAL_SIZE,
                                                              &request_bytes);
  envoy_dynamic_module_callback_http_filter_get_attribute_int(envoy, ATTR_RESPONSE_TOTAL_SIZE,
                                                              &response_bytes);
  uint64_t values[METRICS] = {(now_ns() - filter->start_ns) / 1000000u, request_bytes,
                              response_bytes};
  for (size_t i = 0; i < METRICS; i++) {
    envoy_dynamic_module_callback_http_filter_record_histogram_value(
        envoy, filter->config->histograms[i], &label, filter->config->labelled ? 1 : 0, values[i]);
  }
}

void envoy_dynamic_module_on_http_filter_destroy(const void* module) { free((void*)module); }

/* The hooks Envoy requires but this filter does not use: continue (0), do nothing. Their
 * arguments (the filter pointers, end_of_stream) are ignored, so they declare none. */
int envoy_dynamic_module_on_http_filter_request_body(void) { return 0; }
int envoy_dynamic_module_on_http_filter_request_trailers(void) { return 0; }
int envoy_dynamic_module_on_http_filter_response_headers(void) { return 0; }
int envoy_dynamic_module_on_http_filter_response_body(void) { return 0; }
int envoy_dynamic_module_on_http_filter_response_trailers(void) { return 0; }
void envoy_dynamic_module_on_http_filter_http_callout_done(void) {}
void envoy_dynamic_module_on_http_filter_http_stream_headers(void) {}
void envoy_dynamic_module_on_http_filter_http_stream_data(void) {}
void envoy_dynamic_module_on_http_filter_http_stream_trailers(void) {}
void envoy_dynamic_module_on_http_filter_http_stream_complete(void) {}
void envoy_dynamic_module_on_http_filter_http_stream_reset(void) {}
void envoy_dynamic_module_on_http_filter_scheduled(void) {}
void envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(void) {}
void envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(void) {}
