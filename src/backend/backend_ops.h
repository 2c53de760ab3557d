/* The backend's operations, written once. Each entry X(return type, name, (parameters)) is one
 * function pointer of struct Backend (backend.h) and, in each backend, one function
 * <prefix>_<name> with that signature: src/cpu/cpu_ops.h declares cpu_<name>, cuda/internal.cuh
 * cuda_<name>, and both backends fill their table from this list. Adding an op is one entry here
 * plus its code in each backend. The semantics and the conventions every backend follows are
 * documented here, op by op, and in backend.h (buffer kinds, layouts, accumulation). */
#ifndef MASKDIT_BACKEND_OPS_H
#define MASKDIT_BACKEND_OPS_H

#define BACKEND_OPS(X) \
    /* ---- memory ---- */                                                                                        \
    /* Allocate bytes of device memory; on failure ends the job naming `what` and the size. */                    \
    X(void *, alloc, (Backend *b, size_t bytes, const char *what))                                                \
    X(void, free, (Backend *b, void *p))                                                                          \
    /* Returns once host_src may be reused; the copy itself is ordered before the ops that follow. */             \
    X(void, to_device, (Backend *b, void *dst, const void *host_src, size_t bytes))                               \
    /* Waits for the copy. */                                                                                     \
    X(void, to_host, (Backend *b, void *host_dst, const void *src, size_t bytes))                                 \
    /* Device to device. */                                                                                       \
    X(void, copy, (Backend *b, void *dst, const void *src, size_t bytes))                                         \
    X(void, zero, (Backend *b, void *p, size_t bytes))                                                            \
    X(void, sync, (Backend *b))                                                                                   \
    /* Bytes of device memory in use at the peak so far (allocations by this backend). */                         \
    X(size_t, peak_bytes, (Backend *b))                                                                           \
    /* The run's peak memory on the backend's device, for reports: its allocations at their          \
     * high-water mark where it owns the device (CUDA); the process's peak resident set where the     \
     * device is the host, whose memory the process's other buffers share. */                        \
    X(size_t, peak_memory, (Backend *b))                                                              \
    /* Bytes that could still be allocated now (free device memory; available RAM on the CPU). */                 \
    X(size_t, available_bytes, (Backend *b))                                                                      \
    /* The device, in words, for messages ("GPU 0 (NVIDIA H100 80GB HBM3)", "the CPU"). */                        \
    X(const char *, device_name, (Backend *b))                                                                    \
    /* The physical device, unique on a node ("GPU-<UUID>", as nvidia-smi -L prints it), or "" where              \
     * processes may share it (the CPU). */                                                                       \
    X(const char *, device_uuid, (Backend *b))                                                                    \
                                                                                                                  \
    /* Convert n elements between dtypes (f32 <-> act). src and dst may not overlap. */                           \
    X(void, cast, (Backend *b, void *dst, DType dst_t, const void *src, DType src_t, size_t n))                   \
                                                                                                                  \
    /* ---- dense layers ---- */                                                                                  \
    /* out[M,N] = beta*out + in[M,K] . W[N,K]^T (+ bias[N] if not NULL). act, act, act, act.                      \
     * beta is 0 or 1. */                                                                                         \
    X(void, linear, (Backend *b, void *out, const void *in, const void *W, const void *bias, int M, int K,        \
          int N, float beta))                                                                                     \
    /* Backward of linear. dout[M,N] act. Any output may be NULL (not needed).                                    \
     *   din[M,K] (act)      = din_beta*din + dout . W       (din_beta is 0 or 1)                                 \
     *   dW[N,K]  (f32)     += dout^T . in                                                                        \
     *   dbias[N] (f32)     += sum over rows of dout */                                                           \
    X(void, linear_backward, (Backend *b, void *din, float *dW, float *dbias, const void *dout, const void *in,   \
          const void *W, int M, int K, int N, float din_beta))                                                    \
                                                                                                                  \
    /* ---- the MLP: linear layers around the GELU ----                                                           \
     * Each is exactly the composition of the ops named (backend_linear_gelu_composed and                         \
     * backend_gelu_linear_backward_composed below, the CPU backend's implementation); CUDA runs                  \
     * each as one cuBLASLt GEMM with the GELU in its epilogue where it can, all act. */                          \
    /* pre[M,N] = in[M,K] . W[N,K]^T + bias[N] (bias may be NULL), act[M,N] = gelu(pre):                          \
     *   linear(pre, in, W, bias, M, K, N, 0); gelu(act, pre, M*N). */                                            \
    X(void, linear_gelu, (Backend *b, void *act, void *pre, const void *in, const void *W, const void *bias,      \
          int M, int K, int N))                                                                                   \
    /* Backward of out[M,N] = linear(gelu(pre[M,K]), W[N,K], bias), where act = gelu(pre) (the layer's            \
     * input, as the forward pass saw it), down to the gradient of pre:                                           \
     *   dpre[M,K] (act)  = (dout . W) * gelu'(pre)   (overwrites)                                                \
     *   dW[N,K]  (f32)  += dout^T . act,   dbias[N] (f32) += sum over rows of dout   (either may be NULL)        \
     *   = linear_backward(dpre, dW, dbias, dout, act, W, M, K, N, 0); gelu_backward(dpre, dpre, pre, M*K). */    \
    X(void, gelu_linear_backward, (Backend *b, void *dpre, float *dW, float *dbias, const void *dout,             \
          const void *act, const void *pre, const void *W, int M, int K, int N))                                  \
                                                                                                                  \
    /* ---- element-wise ---- */                                                                                  \
    X(void, silu, (Backend *b, void *out, const void *in, size_t n))                                              \
    /* din = dout * silu'(in) (overwrites din). */                                                                \
    X(void, silu_backward, (Backend *b, void *din, const void *dout, const void *in, size_t n))                   \
    /* GELU, tanh approximation: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))). */                                      \
    X(void, gelu, (Backend *b, void *out, const void *in, size_t n))                                              \
    /* din = dout * gelu'(in); din may be dout (in place). */                                                     \
    X(void, gelu_backward, (Backend *b, void *din, const void *dout, const void *in, size_t n))                   \
    /* x[n,t,:] += rows[t,:] for n < N, t < T (position embeddings; rows is act). */                              \
    X(void, add_rows, (Backend *b, void *x, const void *rows, int N, int T, int width))                           \
                                                                                                                  \
    /* ---- adaLN ---- */                                                                                         \
    /* out[n,t,:] = LN(x[n,t,:]) * (1 + scale[n,:]) + shift[n,:]                                                  \
     *   LN without affine parameters, biased variance, epsilon eps.                                              \
     *   shift row n = mod + n*mod_stride + shift_off, scale row n = mod + n*mod_stride + scale_off               \
     *   (act). mean, rstd: f32 [N*T], saved for the backward pass. */                                            \
    X(void, layernorm_modulate, (Backend *b, void *out, float *mean, float *rstd, const void *x,                  \
          const void *mod, int mod_stride, int shift_off, int scale_off, int N, int T, int width, float eps))     \
    /* Backward: dx[N,T,width] += dLN (accumulates: dx is the residual-stream gradient);                          \
     * dmod rows (act, same strides as mod) receive, OVERWRITING:                                                 \
     *   dshift[n,:] = sum_t dout[n,t,:],  dscale[n,:] = sum_t dout[n,t,:] * xhat[n,t,:]. */                      \
    X(void, layernorm_modulate_backward, (Backend *b, void *dx, void *dmod, const void *dout, const void *x,      \
          const float *mean, const float *rstd, const void *mod, int mod_stride, int shift_off, int scale_off,    \
          int N, int T, int width))                                                                               \
    /* x_out[n,t,:] = x_in[n,t,:] + gate[n,:] * y[n,t,:], gate row n = mod + n*mod_stride + gate_off;             \
     * x_out may be x_in (in place). */                                                                           \
    X(void, gate_residual, (Backend *b, void *x_out, const void *x_in, const void *y, const void *mod,            \
          int mod_stride, int gate_off, int N, int T, int width))                                                 \
    /* Backward given dx (the residual gradient, unchanged by this op):                                           \
     *   dy[n,t,:] = gate[n,:] * dx[n,t,:]  (overwrites dy)                                                       \
     *   dgate[n,:] = sum_t dx[n,t,:] * y[n,t,:]  (overwrites the gate chunk of dmod). */                         \
    X(void, gate_residual_backward, (Backend *b, void *dy, void *dmod, const void *dx, const void *y,             \
          const void *mod, int mod_stride, int gate_off, int N, int T, int width))                                \
                                                                                                                  \
    /* ---- attention ---- */                                                                                     \
    /* Multi-head self-attention core. qkv[N,T,3E] act with columns [q | k | v], head h owning                    \
     * columns h*hd .. h*hd+hd-1 of each; out[N,T,E] = concat_h softmax(q k^T / sqrt(hd)) v.                      \
     * saved: attention_saved_bytes(N,T,E,H) bytes kept for the backward pass (probabilities on                   \
     * the CPU, the log-sum-exp of each score row on CUDA). */                                                    \
    X(size_t, attention_saved_bytes, (Backend *b, int N, int T, int E, int H))                                    \
    /* Scratch needed by attention_backward (freely overwritten, not kept between calls). */                      \
    X(size_t, attention_scratch_bytes, (Backend *b, int N, int T, int E, int H))                                  \
    X(void, attention, (Backend *b, void *out, void *saved, const void *qkv, int N, int T, int E, int H))         \
    /* dqkv[N,T,3E] (act, overwritten) from dout[N,T,E], the forward's qkv, out and saved. */                     \
    X(void, attention_backward, (Backend *b, void *dqkv, void *scratch, const void *dout, const void *qkv,        \
          const void *out, const void *saved, int N, int T, int E, int H))                                        \
                                                                                                                  \
    /* ---- tokens ---- */                                                                                        \
    /* out[n,k,:] = in[n, ids[n,k], :] for k < K; in has L tokens per sample. ids: i32 [N,K]. */                  \
    X(void, gather_tokens, (Backend *b, void *out, const void *in, const int32_t *ids, int N, int L, int K,       \
          int width))                                                                                             \
    /* Backward of gather: din[N,L,width] = 0 except din[n, ids[n,k]] = dout[n,k] (overwrites). */                \
    X(void, gather_tokens_backward, (Backend *b, void *din, const void *dout, const int32_t *ids, int N, int L,   \
          int K, int width))                                                                                      \
    /* Un-masking: out[n,l,:] = in[n, r, :] if r = ids_restore[n,l] < K, else fill[:] (the mask                   \
     * token, act [width]; fill may be NULL = zeros). */                                                          \
    X(void, unmask_tokens, (Backend *b, void *out, const void *in, const void *fill,                              \
          const int32_t *ids_restore, int N, int L, int K, int width))                                            \
    /* Backward: din[n,r,:] = dout[n,l,:] for r = ids_restore[n,l] < K (overwrites din);                          \
     * dfill[:] (f32, may be NULL) += sum of dout over the positions that took the fill. */                       \
    X(void, unmask_tokens_backward, (Backend *b, void *din, float *dfill, const void *dout,                       \
          const int32_t *ids_restore, int N, int L, int K, int width))                                            \
                                                                                                                  \
    /* ---- loss ---- */                                                                                          \
    /* EDM denoising loss + MAE loss, in token (patch) layout, P values per patch, L patches:                     \
     *   Dx = c_skip[n]*xn[n,l,:] + c_out[n]*F[n,l,:]          (F = final layer output, act)                      \
     *   l_dsm[n,l] = mean_P weight[n]*(Dx - x)^2                                                                 \
     *   without mask (mask == NULL): loss[n] = mean_l l_dsm                                                      \
     *   with mask (f32 [N,L], 1 = removed):                                                                      \
     *       loss[n] = sum_l (1-mask) l_dsm / sum_l (1-mask)                                                      \
     *               + mae_coef * sum_l mask * mean_P (Dx - mae_target)^2 / sum_l mask                            \
     *     (the MAE term only if mae_coef > 0 and mae_target != NULL)                                             \
     *   x, xn, mae_target: f32 [N,L,P]; c_skip, c_out, weight: f32 [N]; loss: f32 [N] (written).                 \
     *   dF (act [N,L,P], may be NULL) = grad_scale * d loss[n] / dF, summed over n (the caller                   \
     *   passes grad_scale = 1/global_batch for the gradient of the mean, times any AMP scale). */                \
    X(void, edm_loss, (Backend *b, float *loss, void *dF, const void *F, const float *x, const float *xn,         \
          const float *mae_target, const float *mask, const float *c_skip, const float *c_out,                    \
          const float *weight, int N, int L, int P, float mae_coef, float grad_scale))                            \
                                                                                                                  \
    /* ---- image layers (NCHW), forward only: the VAE and the Inception network ----                           \
     * All buffers act, row-major [N, C, H, W].                                                                   \
     * 2-D convolution as PyTorch's Conv2d (cross-correlation; no dilation, no groups), shape s:                  \
     *   out[n,o,y,x] = beta*out[n,o,y,x] + bias[o]                                                               \
     *                + sum_{c,i,j} W[o,c,i,j] * in[n, c, y*stride + i - pad_top, x*stride + j - pad_left]        \
     * with zeros outside the input; in [N,C,H,W], W [O,C,kh,kw], bias [O] or NULL, out                           \
     * [N,O,conv2d_out_h(s),conv2d_out_w(s)]. beta is 0 or 1 (1 adds to out: residual connections).               \
     * The backend may keep a workspace for it, grown on first use of a larger shape. */                          \
    X(void, conv2d, (Backend *b, void *out, const void *in, const void *W, const void *bias, const Conv2dShape *s, \
          float beta))                                                                                            \
    /* GroupNorm with affine parameters (gamma, beta [C]), then SiLU when silu is 1:                              \
     *   out[n,c,:] = f((in[n,c,:] - mean) * rstd * gamma[c] + beta[c])                                           \
     * mean and biased variance over the C/groups channels of c's group and all HW positions,                     \
     * rstd = 1/sqrt(var + eps). in, out [N,C,HW]; out may be in (in place). */                                   \
    X(void, group_norm, (Backend *b, void *out, const void *in, const void *gamma, const void *beta, int N, int C, \
          int HW, int groups, float eps, int silu))                                                               \
    /* Nearest-neighbour upsampling by 2: out[n,c,y,x] = in[n,c,y/2,x/2]; in [N,C,H,W],                           \
     * out [N,C,2H,2W]. */                                                                                        \
    X(void, upsample_nearest2x, (Backend *b, void *out, const void *in, int N, int C, int H, int W))              \
    /* Batched transpose between channel-major and token-major layouts:                                           \
     *   out[n,c,r] = beta*out[n,c,r] + in[n,r,c]   for in [N,R,Cols], out [N,Cols,R]                             \
     * (R = C, Cols = H*W: NCHW to tokens; R = H*W, Cols = C and beta 1: tokens added back into                   \
     * an NCHW residual). beta is 0 or 1; out and in do not overlap. */                                           \
    X(void, transpose, (Backend *b, void *out, const void *in, int N, int R, int Cols, float beta))               \
                                                                                                                  \
    /* ReLU: out[i] = max(in[i], 0) over n act values; out may be in (in place). */                             \
    X(void, relu, (Backend *b, void *out, const void *in, size_t n))                                              \
    /* 2-D pooling as PyTorch's max_pool2d / avg_pool2d (floor mode), shape s (backend.h):                        \
     *   out[n,c,y,x] = max or mean of in[n, c, y*stride + i - pad, x*stride + j - pad], 0 <= i, j < k            \
     * over the window positions inside the input only (max: padding never wins; mean:                            \
     * count_include_pad=False, the divisor is the number of positions inside). in [N,C,H,W],                    \
     * out [N,C,pool2d_out(H),pool2d_out(W)]. k = H = W, stride 1, pad 0 is a global average. */                  \
    X(void, pool2d, (Backend *b, void *out, const void *in, const Pool2dShape *s))                                \
                                                                                                                  \
    /* ---- optimizer and bookkeeping over flat f32 buffers ---- */                                               \
    /* apex FusedAdam(adam_w_mode=True), element-wise over n values, with g = grad * grad_scale:                  \
     *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2                                                              \
     *   p -= lr * ((m / bc1) / (sqrt(v / bc2) + eps) + wd * p)      (bc = bias corrections)                      \
     * b1 and b2 are double because 1-b must be formed before rounding to float: 1 - 0.999f is                    \
     * 1.3e-5 (relative) away from 0.001, more than the golden exp_avg_sq tolerance.                              \
     * param_act (act_dtype, n values, may be NULL) receives the updated p rounded as cast() rounds               \
     * it, in the same pass: the refresh of the compute copy of the weights, bit-identical to adamw               \
     * followed by cast. It must not overlap param (pass NULL when the compute copy is param). */                 \
    X(void, adamw, (Backend *b, float *param, void *param_act, const float *grad, float *m, float *v, size_t n,   \
          float lr, double b1, double b2, float eps, float wd, float bc1, float bc2, float grad_scale))           \
    /* ema = decay*ema + (1-decay)*param. */                                                                      \
    X(void, ema, (Backend *b, float *ema, const float *param, size_t n, float decay))                             \
    /* x *= s. */                                                                                                 \
    X(void, scale, (Backend *b, float *x, size_t n, float s))                                                     \
    /* Sum of squares of n f32 values, in double; NaN/Inf propagate (used for the gradient norm                   \
     * and the finite check of AMP loss scaling). Waits for the result. */                                        \
    X(double, sum_squares, (Backend *b, const float *x, size_t n))                                                \
                                                                                                                  \
    X(void, destroy, (Backend *b))

#endif
