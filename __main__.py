"""vmimage: golden Azure VM images and their clones. Thin on purpose: load the spec,
build the pipeline, export what other stacks and people need."""

import pulumi

from components.config import admin_password, load_from_stack
from components.pipeline import ImagePipeline, ImagePipelineArgs

loaded = load_from_stack()
pipeline = ImagePipeline(
    "vmimage",
    ImagePipelineArgs(
        spec=loaded.spec,
        admin_password=admin_password(),
        environment=pulumi.Config("azure-native").get("environment"),
    ),
)

pulumi.export("imageVersionIds", pipeline.image_version_ids)
pulumi.export("managedImageIds", pipeline.managed_image_ids)
pulumi.export("galleryImageId", pipeline.gallery_image_id)
pulumi.export("buildVmStates", pipeline.build_vm_states)
pulumi.export("clones", pipeline.clones)
if pipeline.generated_password is not None:
    pulumi.export("adminPassword", pulumi.Output.secret(pipeline.generated_password))
