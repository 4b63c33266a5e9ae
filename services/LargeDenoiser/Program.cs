using TStitch.Denoising;

// The large pool: the shared denoiser host with this folder's appsettings.json.
DenoiserHost.Create(args, "large-denoiser").Run();
