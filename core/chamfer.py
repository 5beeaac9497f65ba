"""Chamfer distance through nearest-neighbour indices (no N×M matrix)."""
import numpy as np
import torch
from scipy.spatial import cKDTree


def nearest(tree_points, query, tree=None, workers=1):
    """Index of the nearest point of `tree_points` for every row of `query`: (Q,) int64."""
    tree = tree if tree is not None else cKDTree(tree_points)
    _, idx = tree.query(query, k=1, workers=workers)
    return idx


def chamfer_distance(points, target, target_tree=None, reduce=True):
    """Symmetric Chamfer distance with squared distances, mean in both directions.

    points: (N, 3) torch tensor (differentiable); target: (M, 3) numpy array or tensor
    (constant). `target_tree` is an optional prebuilt cKDTree of `target`.
    Returns a scalar tensor mean_p |p - nn_T(p)|² + mean_q |q - nn_P(q)|², or the two
    terms separately when `reduce` is False.
    """
    target_np = target.detach().cpu().numpy() if torch.is_tensor(target) else np.asarray(target)
    target_t = torch.as_tensor(target_np, dtype=points.dtype, device=points.device)
    p_np = points.detach().cpu().numpy()
    to_target = nearest(target_np, p_np, tree=target_tree)
    to_points = nearest(p_np, target_np)
    forward = ((points - target_t[torch.as_tensor(to_target, device=points.device)]) ** 2).sum(1).mean()
    backward = ((target_t - points[torch.as_tensor(to_points, device=points.device)]) ** 2).sum(1).mean()
    return forward + backward if reduce else (forward, backward)
