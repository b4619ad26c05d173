"""Coordinate channels follow (index / (R - 1) - 0.5) * 2 at every pixel."""
import torch

from patchgen.coords import coordinate_channels


def formula(index: int, resolution: int) -> float:
    return (index / (resolution - 1) - 0.5) * 2


def test_every_pixel_of_patches_matches_the_formula() -> None:
    resolution, size = 32, 8
    top, left = torch.tensor([0, 5, 24]), torch.tensor([3, 0, 24])
    coords = coordinate_channels(top, left, size, size, resolution)
    assert coords.shape == (3, 2, size, size)
    for n in range(3):
        for i in range(size):
            for j in range(size):
                x, y = coords[n, :, i, j].tolist()
                assert abs(x - formula(left[n].item() + j, resolution)) < 1e-6
                assert abs(y - formula(top[n].item() + i, resolution)) < 1e-6


def test_full_image_spans_minus_one_to_one_with_x_along_columns() -> None:
    coords = coordinate_channels(torch.tensor([0]), torch.tensor([0]), 16, 16, 16)[0]
    x, y = coords
    assert x[0, 0] == -1 and x[0, -1] == 1 and y[0, 0] == -1 and y[-1, 0] == 1
    assert torch.equal(x[0], x[5])  # x varies along columns only
    assert torch.equal(y[:, 0], y[:, 7])  # y varies along rows only


def test_patch_coordinates_are_the_crop_of_the_full_grid() -> None:
    full = coordinate_channels(torch.tensor([0]), torch.tensor([0]), 32, 32, 32)[0]
    patch = coordinate_channels(torch.tensor([7]), torch.tensor([11]), 16, 16, 32)[0]
    assert torch.equal(patch, full[:, 7:23, 11:27])


def test_shifted_and_larger_canvas_extrapolates_with_the_same_formula() -> None:
    resolution = 16
    coords = coordinate_channels(torch.tensor([-4]), torch.tensor([8]), 24, 20, resolution)[0]
    assert coords.shape == (2, 24, 20)
    for i in (0, 10, 23):
        for j in (0, 7, 19):
            assert abs(coords[0, i, j] - formula(8 + j, resolution)) < 1e-6
            assert abs(coords[1, i, j] - formula(-4 + i, resolution)) < 1e-6
    assert coords[1].min() < -1 and coords[0].max() > 1  # beyond the training canvas
