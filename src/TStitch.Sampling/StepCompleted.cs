namespace TStitch.Sampling;

/// <summary>Reported after every step: where the trajectory is and which model ran the step.</summary>
public sealed record StepCompleted(int Step, int Steps, string ModelId, int Timestep, SamplerState State, TimeSpan DenoiseTime);
