namespace TStitch.Sampling;

public enum SamplerKind { Ddim, Ddpm, DpmSolverPP2M }
