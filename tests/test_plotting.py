import shutil
import xml.dom.minidom

import pytest

import nasnet_keras as nk
from nasnet_keras.plotting import cell_to_dot, plot_cell, plot_genotype

BACKENDS = ["matplotlib", pytest.param("graphviz", marks=pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz `dot` is not installed"))]


def _check_files(paths):
    assert set(paths) == {"svg", "png"}
    with open(paths["png"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    doc = xml.dom.minidom.parse(paths["svg"])
    return doc.toxml()


@pytest.mark.parametrize("backend", BACKENDS)
def test_plot_genotype_writes_svg_and_png_with_every_operation(tmp_path, backend):
    paths = plot_genotype(nk.NASNET_A, tmp_path / "nasnet_a", backend=backend)
    svg = _check_files(paths)
    for name in ("sep_conv_7x7", "max_pool_3x3", "avg_pool_3x3", "identity", "h_(i-1)"):
        assert name in svg, name


@pytest.mark.parametrize("backend", BACKENDS)
def test_plot_cell_b_style(tmp_path, backend):
    cell = nk.CellSpec(ops=["sep_conv_3x3", "identity"] * 4, inputs=[0, 1, 2, 3, 4, 0, 5, 1],
                       combine=["add", "add_layernorm", "add_instancenorm", "add"],
                       num_inputs=4, output_mode="pass")
    svg = _check_files(plot_cell(cell, tmp_path / "b.svg", backend=backend))
    assert "to cell +4" in svg and "add + LN" in svg


def test_dot_lists_each_block_and_the_concat():
    dot = cell_to_dot(nk.NASNET_A.reduction)
    assert dot.count("(block ") == 5
    assert dot.count("-> cell_out;") == 4  # concat of 4 states


def test_bad_backend():
    with pytest.raises(ValueError, match="`backend`"):
        plot_cell(nk.NASNET_A.normal, "x", backend="tikz")


@pytest.mark.parametrize("backend", BACKENDS)
def test_plot_recurrent_cell_draws_every_node_and_the_memory(tmp_path, backend):
    svg = _check_files(nk.plot_recurrent_cell(nk.NAS_CELL, tmp_path / "nas_cell",
                                              backend=backend))
    for text in ("h_t", "c_t", "c_(t-1)", "identity", "sigmoid", "relu"):
        assert text in svg, text
    with pytest.raises(TypeError, match="`spec` must be a RecurrentCellSpec"):
        nk.plot_recurrent_cell(nk.NASNET_A, tmp_path / "x")


def test_recurrent_dot_reads_the_injected_output_and_the_root():
    from nasnet_keras.plotting import recurrent_cell_to_dot

    dot = recurrent_cell_to_dot(nk.NAS_CELL)
    assert dot.count("shape=ellipse") == 16  # 15 nodes and the injection
    # Node 12 reads node 8 after the injection, and node 9 directly.
    assert "inject -> n12; n9 -> n12;" in dot and "n8 -> inject; cprev -> inject;" in dot
    assert "n12 -> ct; n14 -> ht;" in dot
