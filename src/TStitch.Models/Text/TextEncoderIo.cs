namespace TStitch.Models.Text;

/// <summary>Tensor names of a text-encoder graph (CLIP's export names them "input_ids" and "last_hidden_state").</summary>
public sealed record TextEncoderIo(string Tokens = "input_ids", string Output = "last_hidden_state");
