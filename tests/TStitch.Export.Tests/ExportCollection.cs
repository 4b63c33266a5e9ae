namespace TStitch.Export.Tests;

/// <summary>One fixture export per test run, shared by every test class.</summary>
[CollectionDefinition(Name)]
public sealed class ExportCollection : ICollectionFixture<ExportFixture>
{
    public const string Name = "export";
}
