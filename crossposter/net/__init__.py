"""HTTP the way crossposter needs it: bounded in time and size, and for URLs a feed
supplies, only towards public addresses."""
