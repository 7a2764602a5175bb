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

from scratch.functional.activation import (
    leaky_relu_backward,
    leaky_relu_forward,
    log_softmax_backward,
    log_softmax_forward,
    relu_backward,
    relu_forward,
    scaled_tanh_backward,
    scaled_tanh_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)
from scratch.functional.conv import conv2d_backward, conv2d_forward
from scratch.functional.linear import linear_backward, linear_forward
from scratch.functional.loss import (
    cross_entropy_backward,
    cross_entropy_forward,
    l1_loss_backward,
    l1_loss_forward,
    mse_loss_backward,
    mse_loss_forward,
    nll_loss_backward,
    nll_loss_forward,
)
from scratch.functional.pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    sum_pool2d_backward,
    sum_pool2d_forward,
)
from scratch.functional.reshape import flatten_backward, flatten_forward

__all__ = [name for name in dir() if name.endswith(("_forward", "_backward"))]
