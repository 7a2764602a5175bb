"""The functional core: every op as ``<op>_forward(...) -> (out, cache)`` and ``<op>_backward(dout, cache)``.

Shape legend used in every docstring (NCHW, as PyTorch):

    N      batch size            C_in, C_out   input / output channels
    H, W   input height, width   kH, kW        kernel height, width
    H_out, W_out                 output height, width
    s, p, d                      stride, padding, dilation (per axis: s_h, s_w, ...)

The forward returns the output and a cache holding exactly what the backward needs; the backward
returns the gradient with respect to each differentiable input, in the forward's argument order.
float32 in gives float32 out, float64 in gives float64 out.
"""
