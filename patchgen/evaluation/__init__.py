"""Evaluation: feature extractors, FID/KID/IS/precision-recall metrics, reference statistics."""
from .classifier import DatasetClassifier, FeatureClassifier
from .classifier_training import train_classifier
from .compute import compute_metrics, source_stats
from .extractor import FeatureExtractor, Features
from .features import SharedExtractor, extractor_config, reference_stats
from .inception import TFInception
from .inception_inputs import inception_input
from .metrics import FID, KID, InceptionScore, PrecisionRecall
from .stats import ReferenceStats

__all__ = ['DatasetClassifier', 'FeatureClassifier', 'train_classifier', 'compute_metrics',
           'source_stats', 'FeatureExtractor', 'Features', 'SharedExtractor', 'extractor_config',
           'reference_stats', 'TFInception', 'inception_input', 'FID', 'KID', 'InceptionScore',
           'PrecisionRecall', 'ReferenceStats']
