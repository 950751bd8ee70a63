/* One LSTM layer + linear head, trained with Adam: forward, backpropagation through time and the
 * update for one epoch of minibatches, in plain C (GCC/Clang vector extensions, no intrinsics).
 *
 * Same model and maths as lstmtrade.model.LSTMRegressor trained by lstmtrade.train.fit:
 *   z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,   gates i, f, g, o (torch's order)
 *   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t),  yhat = w_out . h_T + b_out
 * loss MSE (kind 0) or Huber with delta (kind 1), mean over the batch; Adam as torch.optim.Adam
 * (no weight decay, no amsgrad). Single-threaded and deterministic: within one build, the same
 * inputs give the same bits (another compiler, flags or CPU may round differently: -march=native,
 * fused multiply-adds). Built and loaded on demand by lstmtrade/native/__init__.py; the hidden
 * size must be a multiple of 8.
 *
 * Parameters are one flat float32 array in torch's layout:
 *   W_ih [4H][F], W_hh [4H][H], b_ih [4H], b_hh [4H], w_out [H], b_out [1]
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));
typedef float v8fu __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define LOAD(p) (*(const v8fu *)(p))
#define STORE(p, v) (*(v8fu *)(p) = (v))

static inline v8f splat(float a) { return (v8f){a, a, a, a, a, a, a, a}; }

static inline v8f vclamp(v8f x, float lo, float hi) {
    v8i below = x < splat(lo), above = x > splat(hi);
    v8i bits = (v8i)x;
    bits = (bits & ~below) | ((v8i)splat(lo) & below);
    bits = (bits & ~above) | ((v8i)splat(hi) & above);
    return (v8f)bits;
}

/* exp(x) for |x| <= 87: x = n ln2 + r with n the nearest integer to x / ln2, so |r| <= ln2 / 2;
 * degree-6 Taylor polynomial for e^r (relative error below 2e-7), 2^n put straight into the exponent
 * bits. Rounding adds and subtracts 1.5 * 2^23, which needs IEEE arithmetic (no -ffast-math). */
static inline v8f vexp(v8f x) {
    x = vclamp(x, -87.0f, 87.0f);
    v8f nf = (x * splat(1.44269504088896341f) + splat(12582912.0f)) - splat(12582912.0f);
    v8i n = __builtin_convertvector(nf, v8i);
    v8f r = (x - nf * splat(0.693145751953125f)) - nf * splat(1.428606765330187e-06f);
    v8f p = splat(1.0f / 720.0f);
    p = p * r + splat(1.0f / 120.0f);
    p = p * r + splat(1.0f / 24.0f);
    p = p * r + splat(1.0f / 6.0f);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    v8i scale = (n + 127) << 23;
    return p * (v8f)scale;
}

static inline v8f vsigmoid(v8f x) { return splat(1.0f) / (splat(1.0f) + vexp(-x)); }
static inline v8f vtanh(v8f x) { return splat(2.0f) / (splat(1.0f) + vexp(x * splat(-2.0f))) - splat(1.0f); }

/* Register tile: RB rows x CV vectors of 8 columns of C += A B over k in [0, K). RB and CV are
 * compile-time constants, so the accumulators live in registers. */
#define TILE(RB, CV)                                                                                   \
    static inline void tile_##RB##_##CV(int K, const float *A, long ars, long acs, const float *B,    \
                                        long ldb, float *C, long ldc, int acc) {                       \
        v8f s[RB][CV];                                                                                 \
        for (int r = 0; r < RB; r++)                                                                   \
            for (int c = 0; c < CV; c++) s[r][c] = acc ? LOAD(C + r * ldc + 8 * c) : splat(0);         \
        for (int k = 0; k < K; k++) {                                                                  \
            v8f b[CV];                                                                                 \
            for (int c = 0; c < CV; c++) b[c] = LOAD(B + k * ldb + 8 * c);                             \
            for (int r = 0; r < RB; r++) {                                                             \
                v8f a = splat(A[r * ars + k * acs]);                                                   \
                for (int c = 0; c < CV; c++) s[r][c] += a * b[c];                                      \
            }                                                                                          \
        }                                                                                              \
        for (int r = 0; r < RB; r++)                                                                   \
            for (int c = 0; c < CV; c++) STORE(C + r * ldc + 8 * c, s[r][c]);                          \
    }
TILE(6, 2)
TILE(4, 2)
TILE(1, 2)
TILE(6, 1)
TILE(4, 1)
TILE(1, 1)

#define KC 128 /* rows of B per pass, so a pass's slice of B stays in cache */

/* C[M x N] = (acc ? C : 0) + A B with A(i, k) = A[i * ars + k * acs], B row-major (ldb), C row-major
 * (ldc); N a multiple of 8, K >= 1. */
static void gemm(int M, int N, int K, const float *A, long ars, long acs, const float *B, long ldb,
                 float *C, long ldc, int acc) {
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC, add = acc || k0 > 0;
        const float *Ak = A + k0 * acs, *Bk = B + k0 * ldb;
        int i = 0;
        for (; i + 6 <= M; i += 6) {
            int j = 0;
            for (; j + 16 <= N; j += 16) tile_6_2(kc, Ak + i * ars, ars, acs, Bk + j, ldb, C + i * ldc + j, ldc, add);
            for (; j < N; j += 8) tile_6_1(kc, Ak + i * ars, ars, acs, Bk + j, ldb, C + i * ldc + j, ldc, add);
        }
        for (; i + 4 <= M; i += 4) {
            int j = 0;
            for (; j + 16 <= N; j += 16) tile_4_2(kc, Ak + i * ars, ars, acs, Bk + j, ldb, C + i * ldc + j, ldc, add);
            for (; j < N; j += 8) tile_4_1(kc, Ak + i * ars, ars, acs, Bk + j, ldb, C + i * ldc + j, ldc, add);
        }
        for (; i < M; i++) {
            int j = 0;
            for (; j + 16 <= N; j += 16) tile_1_2(kc, Ak + i * ars, ars, acs, Bk + j, ldb, C + i * ldc + j, ldc, add);
            for (; j < N; j += 8) tile_1_1(kc, Ak + i * ars, ars, acs, Bk + j, ldb, C + i * ldc + j, ldc, add);
        }
    }
}

/* Forward and backward over the nb windows numbered rows[b] (rows NULL: the first nb) with targets
 * y[rows[b]]; adds the gradient into grad (zeroed by the caller) and returns the batch's mean loss.
 * Window r is the T x F contiguous floats from x + starts[r] * F: x is a feature matrix [rows][F] and
 * starts[r] the first row of window r (starts NULL: x holds the windows one after another, [N][T][F]).
 *
 * Each time step's input projection and recurrence are one matrix product: row b of HX[t] holds
 * [h_{t-1}, x_t] and WT stacks W_hh^T over W_ih^T, so z_t = HX[t] WT (+ biases, added with the gates).
 * The weight gradients are then one product over all (t, b) rows: HX^T dz. */
static double batch_grad(const float *params, float *grad, const float *x, const int64_t *starts, const float *y,
                         const int64_t *rows, int nb, int T, int F, int H, int loss_kind, float delta, float *work) {
    const int G = 4 * H, NV = H / 8, K1 = H + F;
    const long S = (long)nb * K1; /* one time step of HX */
    const float *Wih = params, *Whh = Wih + (long)G * F, *bih = Whh + (long)G * H, *bhh = bih + G;
    const float *wout = bhh + G, *bout = wout + H;
    float *gWih = grad, *gWhh = gWih + (long)G * F, *gbih = gWhh + (long)G * H, *gbhh = gbih + G;
    float *gwout = gbhh + G, *gbout = gwout + H;

    float *WT = work;                            /* [K1][G]: W_hh^T rows, then W_ih^T rows */
    float *bias = WT + (long)K1 * G;             /* [G] b_ih + b_hh */
    float *HX = bias + G;                        /* [T+1][nb][K1]: h_{t-1} then x_t */
    float *Cs = HX + (long)(T + 1) * S;          /* [T+1][nb][H] */
    float *TC = Cs + (long)(T + 1) * nb * H;     /* [T][nb][H] tanh(c_t) */
    float *Z = TC + (long)T * nb * H;            /* [T][nb][G]: activations, then dz in place */
    float *dH = Z + (long)T * nb * G;            /* [nb][H] */
    float *dC = dH + (long)nb * H;               /* [nb][H] */
    float *gT = dC + (long)nb * H;               /* [K1][G] the weight gradient, transposed */
    float *dy = gT + (long)K1 * G;               /* [nb] */

    for (int j = 0; j < G; j++) {
        for (int k = 0; k < H; k++) WT[(long)k * G + j] = Whh[(long)j * H + k];
        for (int f = 0; f < F; f++) WT[(long)(H + f) * G + j] = Wih[(long)j * F + f];
        bias[j] = bih[j] + bhh[j];
    }
    for (int b = 0; b < nb; b++) {
        int64_t r = rows ? rows[b] : b;
        const float *src = x + (starts ? starts[r] : r * (int64_t)T) * (long)F;
        memset(HX + (long)b * K1, 0, sizeof(float) * H);
        for (int t = 0; t <= T; t++)
            for (int f = 0; f < F; f++) HX[t * S + (long)b * K1 + H + f] = t < T ? src[(long)t * F + f] : 0.0f;
    }
    memset(Cs, 0, sizeof(float) * nb * H);

    /* forward */
    for (int t = 0; t < T; t++) {
        float *z = Z + (long)t * nb * G;
        gemm(nb, G, K1, HX + t * S, K1, 1, WT, G, z, G, 0);
        const float *cp = Cs + (long)t * nb * H;
        float *cn = Cs + (long)(t + 1) * nb * H, *tc = TC + (long)t * nb * H;
        for (int b = 0; b < nb; b++) {
            float *zb = z + (long)b * G, *hn = HX + (t + 1) * S + (long)b * K1;
            for (int v = 0; v < NV; v++) {
                long o = (long)b * H + 8 * v;
                v8f i = vsigmoid(LOAD(zb + 8 * v) + LOAD(bias + 8 * v));
                v8f f = vsigmoid(LOAD(zb + H + 8 * v) + LOAD(bias + H + 8 * v));
                v8f g = vtanh(LOAD(zb + 2 * H + 8 * v) + LOAD(bias + 2 * H + 8 * v));
                v8f og = vsigmoid(LOAD(zb + 3 * H + 8 * v) + LOAD(bias + 3 * H + 8 * v));
                v8f c = f * LOAD(cp + o) + i * g, th = vtanh(c);
                STORE(zb + 8 * v, i); STORE(zb + H + 8 * v, f); STORE(zb + 2 * H + 8 * v, g);
                STORE(zb + 3 * H + 8 * v, og);
                STORE(cn + o, c); STORE(tc + o, th); STORE(hn + 8 * v, og * th);
            }
        }
    }

    /* head and loss */
    double loss = 0.0;
    for (int b = 0; b < nb; b++) {
        const float *hT = HX + T * S + (long)b * K1;
        float yhat = bout[0];
        for (int k = 0; k < H; k++) yhat += wout[k] * hT[k];
        float d = yhat - y[rows ? rows[b] : b];
        if (loss_kind == 1 && fabsf(d) >= delta) {
            loss += delta * (fabsf(d) - 0.5f * delta);
            dy[b] = (d > 0 ? delta : -delta) / nb;
        } else {
            loss += loss_kind == 1 ? 0.5 * d * d : (double)d * d;
            dy[b] = (loss_kind == 1 ? d : 2.0f * d) / nb;
        }
        gbout[0] += dy[b];
        for (int k = 0; k < H; k++) {
            gwout[k] += dy[b] * hT[k];
            dH[(long)b * H + k] = dy[b] * wout[k];
        }
    }
    memset(dC, 0, sizeof(float) * nb * H);

    /* backward through time; dz overwrites the activations; the bias gradient adds up as it goes */
    for (int t = T - 1; t >= 0; t--) {
        float *z = Z + (long)t * nb * G;
        if (t < T - 1) gemm(nb, H, G, Z + (long)(t + 1) * nb * G, G, 1, Whh, H, dH, H, 0);
        const float *cp = Cs + (long)t * nb * H, *tc = TC + (long)t * nb * H;
        for (int b = 0; b < nb; b++) {
            float *zb = z + (long)b * G;
            for (int v = 0; v < NV; v++) {
                long o = (long)b * H + 8 * v;
                v8f i = LOAD(zb + 8 * v), f = LOAD(zb + H + 8 * v), g = LOAD(zb + 2 * H + 8 * v);
                v8f og = LOAD(zb + 3 * H + 8 * v), th = LOAD(tc + o), dh = LOAD(dH + o);
                v8f one = splat(1.0f);
                v8f dc = LOAD(dC + o) + dh * og * (one - th * th);
                v8f di = dc * g * i * (one - i), df = dc * LOAD(cp + o) * f * (one - f);
                v8f dg = dc * i * (one - g * g), dout = dh * th * og * (one - og);
                STORE(zb + 8 * v, di); STORE(zb + H + 8 * v, df);
                STORE(zb + 2 * H + 8 * v, dg); STORE(zb + 3 * H + 8 * v, dout);
                STORE(gbih + 8 * v, LOAD(gbih + 8 * v) + di);
                STORE(gbih + H + 8 * v, LOAD(gbih + H + 8 * v) + df);
                STORE(gbih + 2 * H + 8 * v, LOAD(gbih + 2 * H + 8 * v) + dg);
                STORE(gbih + 3 * H + 8 * v, LOAD(gbih + 3 * H + 8 * v) + dout);
                STORE(dC + o, dc * f);
            }
        }
    }
    for (int j = 0; j < G; j++) gbhh[j] = gbih[j];

    /* weight gradients over all (t, b) rows at once: gT = HX[0..T)^T dz */
    gemm(K1, G, T * nb, HX, 1, K1, Z, G, gT, G, 0);
    for (int j = 0; j < G; j++) {
        for (int k = 0; k < H; k++) gWhh[(long)j * H + k] += gT[(long)k * G + j];
        for (int f = 0; f < F; f++) gWih[(long)j * F + f] += gT[(long)(H + f) * G + j];
    }
    return nb ? loss / nb : 0.0;
}

long lt_work_floats(int T, int F, int H, int B) {
    long G = 4L * H, K1 = H + F;
    return K1 * G + G + (T + 1L) * B * K1 + (T + 1L) * B * H + (long)T * B * H + (long)T * B * G + 2L * B * H
           + K1 * G + B;
}

long lt_param_count(int F, int H) { return 4L * H * F + 4L * H * H + 8L * H + H + 1; }

/* Loss and gradient of one batch (for tests against autograd). work: lt_work_floats floats. */
double lt_loss_grad(const float *params, float *grad, const float *x, const float *y, int nb, int T, int F,
                    int H, int loss_kind, float delta, float *work) {
    memset(grad, 0, sizeof(float) * lt_param_count(F, H));
    return batch_grad(params, grad, x, NULL, y, NULL, nb, T, F, H, loss_kind, delta, work);
}

/* One epoch: batches of `batch` of the N windows (x, starts: as batch_grad reads them) in the given order,
 * an Adam step after each.
 * m, v: Adam moments; *step: Adam's step count (in and out). Returns the epoch's mean loss
 * (sum of batch mean loss x batch rows / N), or -1 when memory runs out. */
double lt_train_epoch(float *params, float *m, float *v, long *step, const float *x, const int64_t *starts,
                      const float *y,
                      const int64_t *order, long N, int T, int F, int H, int batch, float lr, float beta1,
                      float beta2, float eps, int loss_kind, float delta) {
    long P = lt_param_count(F, H);
    float *work = malloc(sizeof(float) * (size_t)lt_work_floats(T, F, H, batch));
    float *grad = malloc(sizeof(float) * (size_t)P);
    double total = 0.0;
    if (!work || !grad) {
        total = -1.0;
        goto done;
    }
    for (long lo = 0; lo < N; lo += batch) {
        int nb = (int)(N - lo < batch ? N - lo : batch);
        memset(grad, 0, sizeof(float) * P);
        total += batch_grad(params, grad, x, starts, y, order + lo, nb, T, F, H, loss_kind, delta, work) * nb;
        long s = ++*step;
        float c2 = (float)sqrt(1.0 - pow(beta2, (double)s));
        float size = (float)(lr / (1.0 - pow(beta1, (double)s)));
        for (long p = 0; p < P; p++) {
            float g = grad[p];
            m[p] = beta1 * m[p] + (1.0f - beta1) * g;
            v[p] = beta2 * v[p] + (1.0f - beta2) * g * g;
            params[p] -= size * m[p] / (sqrtf(v[p]) / c2 + eps);
        }
    }
    total = N > 0 ? total / N : 0.0;
done:
    free(work);
    free(grad);
    return total;
}
