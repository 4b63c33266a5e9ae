namespace TStitch.Models.Zoo;

/// <summary>One model size of the zoo: a name and how many mixture components each class gets.</summary>
public sealed record ZooModelSpec(string Name, int ComponentsPerClass);
