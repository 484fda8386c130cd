"""The demo deployment: a seeded generator of a living contact center with a ground truth.

``generate(DemoConfig(...))`` returns a :class:`DemoDataset`: the deployments to register, the
manifest of injected problems, and the interaction batches (drawn lazily, in delivery order).
``daytwo.demo.load`` stores them through the ordinary ingest path.
"""

from daytwo.demo.generator import DemoConfig, DemoDataset, generate
from daytwo.demo.manifest import DeploymentSpec

__all__ = ["DemoConfig", "DemoDataset", "DeploymentSpec", "generate"]
