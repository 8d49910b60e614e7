// Decoder-only transformer families, their configuration and weights (DESIGN.md §2).
import Formats
