"""Every notebook runs top to bottom (nbclient), with small settings injected after its
``parameters`` cell.  The notebooks are committed without outputs."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = os.path.join(os.path.dirname(__file__), "..", "notebooks")
SMALL = {
    "transfer_learning.ipynb": 'IMAGE_SIZE = 32\nHEAD_EPOCHS, FINETUNE_EPOCHS = 1, 1\n'
                               'BATCH_SIZE = 64\nMAX_EXAMPLES = 512\n',
    "architecture_search.ipynb": 'TRIALS = 2\nNUM_BLOCKS = 2\nCHILD = dict(num_cells=1, filters=4)\n'
                                 'IMAGE_SIZE = 32\nEPOCHS = 1\nMAX_EXAMPLES = 256\n'
                                 'FINAL = dict(num_cells=1, filters=8)\nFINAL_EPOCHS = 1\n',
    "custom_cells.ipynb": "NUM_CELLS = 1\nPENULTIMATE_FILTERS = 96\n",
}


def test_every_notebook_has_small_settings_and_no_outputs():
    names = sorted(f for f in os.listdir(NOTEBOOKS) if f.endswith(".ipynb"))
    assert names == sorted(SMALL)
    for name in names:
        book = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), name
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, name


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_top_to_bottom(name, tmp_path):
    book = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    index = next(i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", []))
    book.cells.insert(index + 1, nbformat.v4.new_code_cell(SMALL[name]))
    env_cwd = str(tmp_path)
    client = NotebookClient(book, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": env_cwd}})
    client.execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in book.cells if c.cell_type == "code"
                   for o in c.outputs)
    if name == "transfer_learning.ipynb":
        assert "validation accuracy" in text and "TFLite float max |diff|" in text
    elif name == "architecture_search.ipynb":
        assert (tmp_path / "best_cell.png").exists() and "validation accuracy" in text
    else:
        assert "parameters" in text and "conv_9x9" in text
