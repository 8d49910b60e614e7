// The `tailor` command tree. This target is the only one that parses flags and prints.
import ArgumentParser

@main
struct Tailor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tailor",
        abstract: "Fine-tune a local LLM on your own JSONL data and get a LoRA adapter every runtime loads.",
        discussion: """
            Examples:
              tailor models                                  list the models on this machine
              tailor models --dir ~/models                   also look in a folder of your own
              tailor inspect SmolLM2-135M-Instruct.Q4_1.gguf show a model's configuration and tensors
              tailor tokenize --model M "Hello world"        tokens and ids of a text
              tailor template --model M --messages chat.json render a conversation with the model's template
              tailor data check data.jsonl --model M         validate a dataset, see what is trained
              tailor train --model M --data data.jsonl       fine-tune a LoRA adapter
              tailor chat --adapter runs/X --compare         talk to the base and the tuned model
              tailor generate --model M --prompt "..."       one answer (--json for ids and speed)
              tailor eval --adapter runs/X --data test.jsonl loss, perplexity, accuracy: base vs tuned
              tailor bench train                             measure training speed
            """,
        version: "0.1.0",
        subcommands: [
            ModelsCommand.self, InspectCommand.self, TokenizeCommand.self, TemplateCommand.self, DataCommand.self,
            TrainCommand.self, ChatCommand.self, GenerateCommand.self, EvalCommand.self, ExportCommand.self,
            BenchCommand.self, DoctorCommand.self,
        ]
    )
}
