"""What the forwarding stage uses: the attempt plan, hedged races, and the cascade's judge."""
