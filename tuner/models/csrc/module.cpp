// Python bindings of the C++ CPU kernels (tuner/models/native.py builds this file with the others).
#include <torch/extension.h>

#include <vector>

// horizontal.cpp: Caser's horizontal convolutions
std::vector<torch::Tensor> horizontal_forward(torch::Tensor E, torch::Tensor weight);
std::vector<torch::Tensor> max_over_starts(torch::Tensor R, torch::Tensor n_starts);
std::vector<torch::Tensor> horizontal_backward(torch::Tensor E, torch::Tensor weight, torch::Tensor start,
                                               torch::Tensor grad, c10::optional<torch::Tensor> grad_E_into);
// vertical.cpp: Caser's vertical convolution
torch::Tensor vertical_forward(torch::Tensor E, torch::Tensor weight, torch::Tensor bias);
std::vector<torch::Tensor> vertical_backward(torch::Tensor E, torch::Tensor weight, torch::Tensor grad);
// dropout.cpp: dropout's keep mask
torch::Tensor dropout_keep_mask(int64_t n, int64_t threshold, double scale, int64_t seed);
// embedding.cpp: the gradient of an embedding lookup
torch::Tensor embedding_backward(torch::Tensor grad, torch::Tensor index, int64_t n_rows, int64_t padding_idx);
// cross_entropy.cpp: full-softmax cross-entropy with both gradients
std::vector<torch::Tensor> softmax_cross_entropy(torch::Tensor sequence, torch::Tensor items, torch::Tensor target);
// gru.cpp: one bias-free GRU layer over a whole sequence
std::vector<torch::Tensor> gru_forward(torch::Tensor x, torch::Tensor w_ih, torch::Tensor w_hh, bool keep);
std::vector<torch::Tensor> gru_backward(torch::Tensor grad_out, torch::Tensor x, torch::Tensor w_ih,
                                        torch::Tensor w_hh, torch::Tensor output, std::vector<torch::Tensor> saved,
                                        bool need_grad_x);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("horizontal_backward", &horizontal_backward, "Caser's horizontal max-pool backward (CPU)", py::arg("E"),
        py::arg("weight"), py::arg("start"), py::arg("grad"), py::arg("grad_E_into") = py::none());
  m.def("horizontal_forward", &horizontal_forward, "Caser's horizontal max-pool forward: max and first start (CPU, float32)");
  m.def("max_over_starts", &max_over_starts, "Max over window starts and the first start reaching it (CPU)");
  m.def("vertical_forward", &vertical_forward, "Caser's vertical convolution (CPU, float32)");
  m.def("vertical_backward", &vertical_backward, "Caser's vertical convolution backward (CPU, float32)");
  m.def("dropout_keep_mask", &dropout_keep_mask, "Dropout's keep mask from a counter-based generator (CPU, float32)");
  m.def("embedding_backward", &embedding_backward, "Gradient of an embedding lookup, serial and repeatable (CPU, float32)");
  m.def("softmax_cross_entropy", &softmax_cross_entropy,
        "Full-softmax cross-entropy per row with the sequence and item gradients (CPU, float32)");
  m.def("gru_forward", &gru_forward, "One bias-free GRU layer: states and saved gates (CPU, float32)");
  m.def("gru_backward", &gru_backward, "Gradients of one bias-free GRU layer (CPU, float32)");
}
