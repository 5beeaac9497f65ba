"""README pictures: demo, strip, and render (the side-by-side renders they share)."""
