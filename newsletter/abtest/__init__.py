"""A/B subjects (docs/delivery.md, "A/B subjects"): a sample split between subjects, the
winner by people's clicks, the rest of the audience sent with the winner."""
