"""The stages that turn a checkout into images: the pom model and Maven, the image build."""
