import pytest
import torch

from core.models.tinyfqnet import TABLE_I_BLOCKS, Block, TinyFQNet, count_macs


def derived_params() -> int:
    """Table I by hand: bias-free convs, BN (2 per channel), FC 256 -> 1 with bias."""
    n = 3 * 3 * 3 * 11 + 2 * 11  # stem
    for cin, e, cout, _, _ in TABLE_I_BLOCKS:
        n += cin * e + 2 * e + 9 * e + 2 * e + e * cout + 2 * cout
    n += 22 * 256 + 2 * 256  # 1x1 conv to 256
    return n + 256 + 1


def derived_macs() -> int:
    m = 32 * 32 * 11 * 27  # stem at 32x32
    size = 32
    for cin, e, cout, stride, _ in TABLE_I_BLOCKS:
        m += size * size * cin * e  # expand at input resolution
        size //= stride
        m += size * size * e * 9 + size * size * e * cout  # depthwise + project at output resolution
    return m + 8 * 8 * 22 * 256 + 256


def test_table_i_shapes():
    net = TinyFQNet().eval()
    x = torch.rand(4, 3, 64, 64)
    shapes = [tuple(net.stem(x).shape[1:])]
    y = net.stem(x)
    for b in net.blocks:
        y = b(y)
        shapes.append(tuple(y.shape[1:]))
    assert shapes == [(11, 32, 32), (2, 32, 32), (5, 16, 16), (5, 16, 16), (11, 8, 8), (11, 8, 8), (11, 8, 8), (22, 8, 8)]
    assert tuple(net.features(x).shape[1:]) == (256, 8, 8)
    out = net(x)
    assert out.shape == (4,) and ((out > 0) & (out < 1)).all()


def test_parameter_and_mac_counts_match_derivation_not_the_text():
    net = TinyFQNet()
    params = sum(p.numel() for p in net.parameters())
    assert params == derived_params() == 13366  # the text's 21.806k does not follow from Table I
    assert count_macs(net) == derived_macs()
    assert 1.25e6 < count_macs(net) < 1.45e6  # Table VI's "t4 w0.35 64x64: 1.43 Mflops" row
    assert sum(b.residual for b in net.blocks) == 2 and len(net.blocks) == 7  # "5 non-residual, 2 residual"


def test_residual_block_rules():
    b = Block(11, 44, 11, 1, True).eval()
    x = torch.rand(1, 11, 8, 8)
    torch.testing.assert_close(b(x), x + b.body(x))
    with pytest.raises(ValueError, match="residual"):
        Block(5, 20, 11, 2, True)
