"""Stage-free usage arithmetic any stage may import: token counting, the pricing catalog, cost, estimates."""
