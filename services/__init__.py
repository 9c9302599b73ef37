"""The four services. They never import each other; they share only ``contracts``."""
