"""What the route stage uses to build a plan: where the edge's targets go."""
