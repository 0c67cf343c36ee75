"""Tags every Azure resource of a stack carries."""

from components.config.schema import StackConfig


def common_tags(cfg: StackConfig) -> dict[str, str]:
    """The operator's tags plus the two that tell who owns a resource and which stack made it."""
    return {**cfg.tags, "cdstack-stack": cfg.stack, "managed-by": "pulumi"}
