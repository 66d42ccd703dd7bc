"""When mail is due: per-delivery due instants (waves), `deliver: local`, quiet hours."""
