/* The VAE's NCHW ops on the GPU. conv2d, where cuDNN does not run it (conv_cudnn.cu): im2col of a tile of output rows into the backend's
 * workspace, then one cuBLAS GEMM per tile (out[O, cols] = W[O, K] . col[K, cols], written into
 * the tile's columns of out through the leading dimension), the bias filled in first; a 1x1
 * convolution of stride 1 without padding is the GEMM alone. The tile keeps the workspace near
 * CONV_TILE_ELEMS whatever the image size. GroupNorm (+ SiLU: statistics of pieces of each group,
 * then the map), upsampling and the transpose are kernels of image_kernels.cuh. */
#include "image_kernels.cuh"
#include "internal.cuh"

#define CONV_TILE_ELEMS ((size_t)16 << 20)   /* 32 MiB of bf16 patches, 64 MiB in fp32 */
#define IMAGE_MAX_BLOCKS 65535

static unsigned blocks_for(size_t work) { return grid_for(work, IMAGE_THREADS, IMAGE_MAX_BLOCKS); }

template <typename T>
static void conv2d_typed(Backend *b, T *out, const T *in, const T *W, const T *bias, const Conv2dShape *s, float beta) {
    CudaState *st = cuda_state(b);
    const int Ho = conv2d_out_h(s), Wo = conv2d_out_w(s), K = s->C * s->kh * s->kw;
    const size_t plane = (size_t)Ho * Wo, in_size = (size_t)s->C * s->H * s->W;
    const int pointwise = s->kh == 1 && s->kw == 1 && s->stride == 1 && !s->pad_top && !s->pad_left &&
                          !s->pad_bottom && !s->pad_right;
    int tile_rows = (int)MIN((size_t)Ho, MAX((size_t)1, CONV_TILE_ELEMS / ((size_t)K * Wo)));
    if (!pointwise)
        cuda_workspace_grow(b, &st->conv_cols, &st->conv_cols_count, (size_t)K * tile_rows * Wo, sizeof(T),
                            "conv2d patches");
    const ConvGeom g = {s->C, s->H, s->W, s->kh, s->kw, s->stride, s->pad_top, s->pad_left, Wo};
    const DType t = b->act_dtype;
    for (int n = 0; n < s->N; n++) {
        const T *img = in + (size_t)n * in_size;
        T *o = out + (size_t)n * s->O * plane;
        float gemm_beta = beta;
        if (bias) {
            const unsigned grid = blocks_for((size_t)s->O * plane);
            bias_fill_kernel<T><<<grid, IMAGE_THREADS, 0, st->stream>>>(o, bias, s->O, plane, beta);
            LAUNCH_CHECK("bias_fill_kernel");
            gemm_beta = 1.0f;
        }
        /* column-major view: out^T [plane, O] = col^T [plane, K] . W^T [K, O] */
        if (pointwise) {
            cuda_gemm(b, 0, 0, (int)plane, s->O, K, 1.0f, img, (int)plane, W, K, t, gemm_beta, o, (int)plane, t, NULL);
            continue;
        }
        for (int y0 = 0; y0 < Ho; y0 += tile_rows) {
            const int rows = MIN(tile_rows, Ho - y0), cols = rows * Wo;
            T *col = (T *)st->conv_cols;
            im2col_kernel<T><<<blocks_for((size_t)K * cols), IMAGE_THREADS, 0, st->stream>>>(col, img, g, y0, rows);
            LAUNCH_CHECK("im2col_kernel");
            cuda_gemm(b, 0, 0, cols, s->O, K, 1.0f, col, cols, W, K, t, gemm_beta, o + (size_t)y0 * Wo, (int)plane, t,
                      NULL);
        }
    }
}

void cuda_conv2d(Backend *b, void *out, const void *in, const void *W, const void *bias, const Conv2dShape *s,
                 float beta) {
    if (cuda_conv2d_cudnn(b, out, in, W, bias, s, beta)) return;   /* conv_cudnn.cu, where it applies */
    DISPATCH_ACT(b->act_dtype, T, conv2d_typed<T>(b, (T *)out, (const T *)in, (const T *)W, (const T *)bias, s, beta));
}

/* GroupNorm pieces: about GN_PIECE values each, at most GN_MAX_PIECES per group (the combination
 * of a group's partials is serial). */
#define GN_PIECE 8192
#define GN_MAX_PIECES 256

void cuda_group_norm(Backend *b, void *out, const void *in, const void *gamma, const void *beta, int N, int C, int HW,
                     int groups, float eps, int silu) {
    if (N == 0 || C == 0 || HW == 0) return;
    CudaState *st = cuda_state(b);
    const size_t span = (size_t)(C / groups) * HW, rows = (size_t)N * groups;
    size_t piece_len;
    const size_t pieces = gn_pieces(span, GN_PIECE, GN_MAX_PIECES, &piece_len);
    cuda_workspace_grow(b, (void **)&st->gn_partials, &st->gn_partials_count, rows * pieces * 2, sizeof(float),
                        "GroupNorm partial statistics");
    const dim3 grid((unsigned)rows, (unsigned)pieces);   /* pieces <= GN_MAX_PIECES, within grid.y's limit */
    DISPATCH_ACT(b->act_dtype, T, {
        group_norm_stats_kernel<T><<<grid, IMAGE_THREADS, 0, st->stream>>>(st->gn_partials, (const T *)in, span,
                                                                            piece_len);
        LAUNCH_CHECK("group_norm_stats_kernel");
        group_norm_apply_kernel<T><<<grid, IMAGE_THREADS, 0, st->stream>>>((T *)out, (const T *)in, st->gn_partials,
                                                                            (const T *)gamma, (const T *)beta, C, HW,
                                                                            groups, span, piece_len, eps, silu);
        LAUNCH_CHECK("group_norm_apply_kernel");
    });
}

void cuda_upsample_nearest2x(Backend *b, void *out, const void *in, int N, int C, int H, int W) {
    cudaStream_t stream = cuda_state(b)->stream;
    const size_t planes = (size_t)N * C;
    DISPATCH_ACT(b->act_dtype, T,
                 upsample2x_kernel<T><<<blocks_for(planes * 4 * H * W), IMAGE_THREADS, 0, stream>>>(
                     (T *)out, (const T *)in, planes, H, W));
    LAUNCH_CHECK("upsample2x_kernel");
}

void cuda_transpose(Backend *b, void *out, const void *in, int N, int R, int Cols, float beta) {
    cudaStream_t stream = cuda_state(b)->stream;
    const dim3 grid((Cols + TRANSPOSE_TILE - 1) / TRANSPOSE_TILE, (R + TRANSPOSE_TILE - 1) / TRANSPOSE_TILE, N);
    const dim3 block(TRANSPOSE_TILE, TRANSPOSE_ROWS);
    DISPATCH_ACT(b->act_dtype, T,
                 transpose_kernel<T><<<grid, block, 0, stream>>>((T *)out, (const T *)in, R, Cols, beta));
    LAUNCH_CHECK("transpose_kernel");
}
