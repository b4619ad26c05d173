"""Noise schedules: training sigma law, preconditioning, loss weight, sampling sigmas."""
from .base import NoiseSchedule, Preconditioning
from .edm import EDM
from .ve import VE
from .vp import VP

__all__ = ['NoiseSchedule', 'Preconditioning', 'EDM', 'VP', 'VE']
