"""attn: the tested code behind the attention textbook.

Each module holds one concept, in the order the book teaches it. Chapters import
from here; tests in ``tests/`` check every piece, against PyTorch's own
implementation wherever one exists.

Shape legend (used in every docstring of the package)::

    B  batch size
    H  number of attention heads
    L  query length (number of queries)
    S  key/value length (number of keys)
    E  model width (embedding size)
    D  head width (size of one head's queries and keys)
    V  vocabulary size

Masks come in two forms: ``valid_lens`` (shape (B,) or (B, L): how many keys,
counted from the left, each query may see) and a boolean ``attn_mask`` with
PyTorch's meaning (True = may attend).
"""

__version__ = "0.1.0"

from attn.utils import check_shape, get_device, set_seed
from attn.masking import mask_fill_value, masked_softmax, sequence_mask, valid_lens_to_mask
from attn.plot import annotated_heatmap, show_heatmaps
from attn.scoring import AdditiveAttention, DotProductAttention, MultiplicativeAttention

__all__ = [
    "__version__",
    "check_shape",
    "get_device",
    "set_seed",
    "mask_fill_value",
    "masked_softmax",
    "sequence_mask",
    "valid_lens_to_mask",
    "annotated_heatmap",
    "show_heatmaps",
    "DotProductAttention",
    "AdditiveAttention",
    "MultiplicativeAttention",
]
