/* Parts of the training loop: lr ramp-up, mask-ratio schedules, per-sample random draws, JSON text. */
#include <string.h>

#include "../../src/train/draws.h"
#include "../../src/train/lr.h"
#include "../../src/train/mask_schedule.h"
#include "../../src/train/train_log.h"
#include "test.h"

static void lr_rampup_like_the_original(void) {
    /* without ramp-up: the original's step 0 uses lr 0, every later step the base lr */
    CHECK(lr_at_step(0, 1e-4, 1024, 0) == 0, "step 0 quirk");
    CHECK(lr_at_step(1, 1e-4, 1024, 0) == 1e-4, "step 1");
    CHECK(lr_at_step(123456, 1e-4, 1024, 0) == 1e-4, "later");
    /* 10 kimg ramp at global batch 32: 10000 / 32 = 312.5 steps */
    CHECK_CLOSE(lr_at_step(100, 3e-4, 32, 10), 3e-4 * 3200.0 / 10000.0, 1e-15, "mid ramp");
    CHECK_CLOSE(lr_at_step(312, 3e-4, 32, 10), 3e-4 * 9984.0 / 10000.0, 1e-15, "end of ramp");
    CHECK(lr_at_step(313, 3e-4, 32, 10) == 3e-4, "after the ramp");
}

static void mask_ratio_schedules(void) {
    CHECK(mask_ratio_at("constant", 0.5, 0.1, 0.7) == 0.5, "constant ignores min and progress");
    CHECK_CLOSE(mask_ratio_at("linear", 0.5, 0.1, 0.5), 0.3, 1e-15, "linear rises from min");
    CHECK_CLOSE(mask_ratio_at("linear", 0.5, 0.1, 1.0), 0.5, 1e-15, "linear ends at ratio");
    CHECK_CLOSE(mask_ratio_at("exp", 0.5, 0.0, 1.0), 0.5 * exp(-7.0), 1e-15, "exp");
    CHECK_CLOSE(mask_ratio_at("exp", 0.5, 0.0, 0.0), 0.5, 1e-15, "exp start");
    CHECK_CLOSE(mask_ratio_at("cosine4", 0.5, 0.0, 0.5), 0.5 * 0.25, 1e-15, "cos(pi/4)^4 = 1/4");
    CHECK_CLOSE(mask_ratio_at("cosine2", 0.5, 0.1, 0.5), 0.4 * 0.5 + 0.1, 1e-15, "cosine2 with min");
    CHECK_CLOSE(mask_ratio_at("cosine3", 0.5, 0.0, 0.5), 0.5 * pow(sqrt(0.5), 3), 1e-15, "cosine3");
    CHECK(mask_ratio_at("cos4", 0.5, 0.0, 0.3) == mask_ratio_at("cosine4", 0.5, 0.0, 0.3), "cos4 alias");
    CHECK(mask_ratio_at("cosine6", 0.5, 0.0, 1.0) < 1e-30, "cosine ends at min");
}

static ModelConfig small_config(void) {
    ModelConfig c = model_config_default();
    c.input_size = 8, c.patch_size = 2, c.in_channels = 2, c.num_classes = 10;
    return c;
}

static void draws_depend_only_on_the_sample_index(void) {
    ModelConfig c = small_config();
    Draws whole, a, b;
    draws_alloc(&whole, &c, 8);
    draws_alloc(&a, &c, 4);
    draws_alloc(&b, &c, 4);
    int32_t classes[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    draws_make(&whole, 7, 100, 8, classes, 0.3, 1);
    draws_make(&a, 7, 100, 4, classes, 0.3, 1);
    draws_make(&b, 7, 104, 4, classes + 4, 0.3, 1);
    size_t per = whole.per_sample;
    int L = whole.L, K = whole.K;
    CHECK(!memcmp(whole.rnd_normal, a.rnd_normal, 4 * sizeof(double)) &&
              !memcmp(whole.rnd_normal + 4, b.rnd_normal, 4 * sizeof(double)), "sigma draws");
    CHECK(!memcmp(whole.noise, a.noise, 4 * per * sizeof(float)) &&
              !memcmp(whole.noise + 4 * per, b.noise, 4 * per * sizeof(float)), "noise");
    CHECK(!memcmp(whole.ids_shuffle, a.ids_shuffle, 4 * (size_t)L * sizeof(int32_t)) &&
              !memcmp(whole.ids_shuffle + 4 * L, b.ids_shuffle, 4 * (size_t)L * sizeof(int32_t)), "masks");
    CHECK(!memcmp(whole.labels, a.labels, 4 * (size_t)K * sizeof(float)) &&
              !memcmp(whole.labels + 4 * K, b.labels, 4 * (size_t)K * sizeof(float)), "labels");
    draws_make(&a, 8, 100, 4, classes, 0.3, 1);
    CHECK(memcmp(whole.noise, a.noise, 4 * per * sizeof(float)), "another seed, other noise");
    for (int n = 0; n < 8; n++) {
        int seen[64] = {0}, ok = 1;
        for (int l = 0; l < L; l++) ok &= whole.ids_shuffle[n * L + l] >= 0 && !seen[whole.ids_shuffle[n * L + l]]++;
        CHECK(ok, "sample %d: ids_shuffle is a permutation", n);
    }
    draws_free(&whole), draws_free(&a), draws_free(&b);
}

static void label_dropout(void) {
    ModelConfig c = small_config();
    Draws d;
    int n = 20000;
    draws_alloc(&d, &c, n);
    int32_t *classes = xmalloc((size_t)n * sizeof *classes, "classes");
    for (int i = 0; i < n; i++) classes[i] = i % 10;
    draws_make(&d, 3, 0, n, classes, 0.1, 0);
    int dropped = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        const float *row = d.labels + (size_t)i * 10;
        float sum = 0;
        for (int k = 0; k < 10; k++) sum += row[k];
        if (sum == 0) dropped++;
        else bad += sum != 1 || row[classes[i]] != 1;
    }
    CHECK(bad == 0, "%d kept rows are not the one-hot of their class", bad);
    CHECK(dropped > 0.09 * n && dropped < 0.11 * n, "dropped %d of %d at p = 0.1", dropped, n);
    draws_make(&d, 3, 0, n, classes, 0.0, 0);
    dropped = 0;
    for (int i = 0; i < n; i++) dropped += d.labels[(size_t)i * 10 + classes[i]] == 0;
    CHECK(dropped == 0, "p = 0 keeps every label");
    free(classes);
    draws_free(&d);
}

/* Text in metrics.jsonl (checkpoint paths) stays valid JSON whatever it holds. */
static void json_strings(void) {
    char out[64];
    train_log_json_string("run/0000003.h5", out, sizeof out);
    CHECK(!strcmp(out, "\"run/0000003.h5\""), "%s", out);
    train_log_json_string("a\"b\\c\nd", out, sizeof out);
    CHECK(!strcmp(out, "\"a\\\"b\\\\c\\u000ad\""), "%s", out);
}

int main(void) {
    RUN(lr_rampup_like_the_original);
    RUN(mask_ratio_schedules);
    RUN(draws_depend_only_on_the_sample_index);
    RUN(label_dropout);
    RUN(json_strings);
    return test_summary();
}
