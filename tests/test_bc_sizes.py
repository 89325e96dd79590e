"""The closed-form sizes behind the NASNet-B/C feasibility study agree with built models.

`benchmarks/bc_feasibility.py` argues from `analytic_size` that no genotype gives the
paper's NASNet-B/C sizes; that argument is only as good as this agreement.
"""

import importlib.util
import os

import pytest

import nasnet_keras as nk

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")


def _fit_module():
    spec = importlib.util.spec_from_file_location(
        "fit_nasnet_bc", os.path.join(BENCHMARKS, "fit_nasnet_bc.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


C_STYLE = nk.Genotype(
    nk.CellSpec(ops=["sep_conv_7x7", "conv_1x7_7x1", "identity", "dil_conv_3x3",
                     "conv_1x1", "max_pool_3x3", "sep_conv_3x3", "avg_pool_3x3"],
                inputs=[0, 1, 0, 2, 1, 0, 3, 1],
                combine=["concat", "add_layernorm", "add", "concat"], concat=[1, 4, 5]),
    nk.CellSpec(ops=["identity", "sep_conv_5x5", "max_pool_5x5", "conv_3x3",
                     "conv_1x3_3x1", "identity", "max_pool_7x7", "sep_conv_3x3"],
                inputs=[0, 1, 1, 2, 0, 3, 2, 1],
                combine=["add", "add_instancenorm", "concat", "add"], concat=[4, 5]),
)
B_STYLE = nk.Genotype(
    nk.CellSpec(ops=["sep_conv_3x3", "identity", "conv_1x1", "max_pool_3x3",
                     "dil_conv_3x3", "sep_conv_7x7", "identity", "conv_3x3"],
                inputs=[0, 1, 2, 3, 4, 0, 5, 1], combine=["add", "add_layernorm", "add", "concat"],
                num_inputs=4, output_mode="pass"),
    nk.CellSpec(ops=["identity", "sep_conv_5x5", "avg_pool_3x3", "conv_1x7_7x1",
                     "identity", "max_pool_3x3", "sep_conv_3x3", "identity"],
                inputs=[0, 1, 2, 3, 0, 4, 1, 6], combine=["add", "add", "add_instancenorm", "add"],
                num_inputs=4, output_mode="pass"),
)


@pytest.mark.parametrize("genotype", [C_STYLE, B_STYLE], ids=["C-style", "B-style"])
@pytest.mark.parametrize("stem,size,classes", [("cifar", 32, 10), ("imagenet", 64, 7)])
def test_analytic_size_matches_built_model(genotype, stem, size, classes):
    fit = _fit_module()
    units = nk.model.cell_output_units(genotype.normal)
    penultimate = units * 16 * 3  # F = 12: the ImageNet stem cells run at F/4 and F/2
    # The closed form takes a CIFAR stem width factor; the ImageNet stem is 32 filters.
    multiplier = {"stem_multiplier": 4} if stem == "cifar" else {}
    params, mult_adds = fit.analytic_size(genotype, 1, penultimate, stem, size, classes,
                                          **multiplier)
    model = nk.NASNet(genotype=genotype, num_cells=1, penultimate_filters=penultimate, stem=stem,
                      input_shape=(size, size, 3), classes=classes, **multiplier)
    assert params == model.count_params()
    assert mult_adds == pytest.approx(nk.count_mult_adds(model), rel=0.02)
