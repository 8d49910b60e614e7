// Where local models live: HF cache, Ollama, LM Studio, plain folders (DESIGN.md §2).
import Formats
